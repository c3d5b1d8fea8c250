"""The output layer only where the loss is.

With answer-only loss most positions of an instruction example carry no label (an SST-2 pair has one label token
in about 30), yet a causal LM runs its output layer (SmolLM2: 49k words x 576, a fifth of the model) and the
log-softmax at every position. `KeptLogits` gathers, before the output layer, the hidden states of the positions
whose next token has a label, and computes the causal-LM loss from those logits alone. Positions without a label
add nothing to the loss or to any gradient, so loss and gradients equal the full computation's up to float32
summation order (tests/test_kept_logits.py checks three families, full fine-tuning, LoRA and prompt tuning, padded
and packed). It is the training-time form of `logits_to_keep`, which models apply to the last positions only.

The gathering is a forward pre-hook on the model's output embeddings (`get_output_embeddings()`), so it works for
every family that has one, under `peft` too; it is active only inside `keeping(labels)`, which the `Trainer` enters
for each training step (`finetune.scoring_trainer.ScoringTrainer`). Whatever the batch's shape (padded
rows, one packed row, several packed rows), the output layer sees exactly the labelled positions, as one row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def virtual_token_count(model) -> int:
    """Soft-prompt tokens `peft` puts before every input (prompt tuning); 0 for other models."""
    config = getattr(model, "active_peft_config", None)
    return int(getattr(config, "num_virtual_tokens", 0) or 0) if getattr(config, "is_prompt_learning", False) else 0


class KeptLogits:
    """A causal-LM training loss (the `Trainer`'s `compute_loss_func`) computed from the labelled positions only."""

    def __init__(self, model):
        head = model.get_output_embeddings()
        if head is None:
            raise ValueError(f"{type(model).__name__} has no output embeddings to gather before")
        self.offset = virtual_token_count(model)
        self.positions: torch.Tensor | None = None
        self.targets: torch.Tensor | None = None
        head.register_forward_pre_hook(self._gather)

    def _gather(self, module, args):
        if self.positions is None:
            return None
        hidden = args[0]
        rows, columns = (index.to(hidden.device) for index in self.positions)
        return (hidden[rows, columns + self.offset].unsqueeze(0), *args[1:])

    @contextlib.contextmanager
    def keeping(self, labels: torch.Tensor) -> Iterator[None]:
        """Within the block, the output layer sees only the positions whose next token is labelled: one row of
        them, in row-major order, whatever the batch's shape."""
        rows, columns = (labels[:, 1:] != IGNORE_INDEX).nonzero(as_tuple=True)
        self.positions = (rows, columns)
        self.targets = labels[rows, columns + 1].unsqueeze(0)
        try:
            yield
        finally:
            self.positions = self.targets = None

    def __call__(self, outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        """Mean token cross-entropy over the labelled tokens (summed and divided by `num_items_in_batch` when the
        `Trainer` counts tokens across accumulation steps), as Transformers' causal-LM loss computes it."""
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        if self.targets is not None:
            targets = self.targets
        else:  # evaluation: every position, as the model's own loss
            logits, targets = logits[:, self.offset : self.offset + labels.shape[1] - 1], labels[:, 1:]
        logits = logits.float()
        targets = targets.to(logits.device)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX,
                               reduction="sum")
        if num_items_in_batch is None:
            return loss / (targets != IGNORE_INDEX).sum()
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        return loss / num_items_in_batch
