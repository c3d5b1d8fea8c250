"""The `Trainer` every run uses: evaluation scores computed from the model itself (generated answers) join the
evaluation's metrics before they are logged, the evaluation loss is the same under any number of processes, and a
causal LM's training loss may run the output layer only where a label is (`finetune.kept_logits`)."""

from __future__ import annotations

from collections.abc import Callable

from transformers import Trainer


class ScoringTrainer(Trainer):
    """The `Trainer` of every run. Its every evaluation also computes `evaluation_scores(trainer)` once (on every
    process, which share the work) and adds them, prefixed like the loss, to the evaluation's metrics before they are
    logged: so they reach the reporters, `--metric_for_best_model` and the checkpoint choice, as `compute_metrics`'
    would. Its evaluation loss is the same under any number of processes."""

    def __init__(self, *args, evaluation_scores: Callable[[Trainer], dict] | None = None, kept_logits=None, **kwargs):
        super().__init__(*args, compute_loss_func=kept_logits, **kwargs)
        self.evaluation_scores, self.kept_logits = evaluation_scores, kept_logits

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training and self.kept_logits is not None and "labels" in inputs:
            with self.kept_logits.keeping(inputs["labels"]):
                return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        if not model.training:
            # Evaluation: each batch's own mean loss. Given the token count, Transformers (5.x) also multiplies an
            # evaluation loss by the number of processes, so that under `accelerate launch` eval_loss came out twice
            # as large with two processes as with one.
            num_items_in_batch = None
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    def evaluation_loop(self, *args, **kwargs):
        output = super().evaluation_loop(*args, **kwargs)
        prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
        if self.evaluation_scores is not None and prefix.startswith("eval"):
            output.metrics.update({f"{prefix}_{name}": value for name, value in self.evaluation_scores(self).items()})
        return output
