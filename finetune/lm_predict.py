"""Judging generated text the way users do: answers generated for prompt/completion (or chat) pairs and scored with
ROUGE, BLEU, chrF and exact match (`finetune_toolkit.core.metrics.generation_scores`), as the Transformers examples'
`--predict_with_generate` does.

- `--do_predict --test_file F`: after training, the trained model (full, adapter or merged: the same weights)
  answers every test prompt; `generated_predictions.jsonl` (prompt, reference, prediction, in test order) and
  `predict_results.json` (`predict_rouge1`, ..., `predict_gen_len`, `predict_generation_tokens_per_second`) are
  written, and the same keys go to `all_results.json`.
- `--eval_with_generate`: every evaluation also generates answers for the first `--max_eval_generate_samples`
  validation pairs and adds `eval_rouge1`, ... next to `eval_loss`, in the evaluation's own metrics (so they are
  logged with the loss, reach every reporter, and `--metric_for_best_model rougeL --load_best_model_at_end` works).

Both generate once, with the unwrapped model, the prompts shared out between the processes of `accelerate launch` and
gathered back in order (`generate_across_processes`); prompts are encoded as in training (`encode_prompt`).
"""

from __future__ import annotations

import contextlib
import time
from functools import partial
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.generation import DecodingArguments, generate_across_processes, score_generated
from finetune_toolkit.core.metrics import load_generation_metric
from finetune_toolkit.core.outputs import atomic_write_json, atomic_write_jsonl
from finetune_toolkit.core.prompt_encoding import Prompt

from finetune_toolkit.core.datafiles import check_data_file, load_data_file

from .instructions import check_chat_template
from .lm_data import LM_BUILDERS, LMDataArguments, instruction_columns, split_format

PREDICTIONS_FILE, PREDICT_RESULTS_FILE = "generated_predictions.jsonl", "predict_results.json"


@dataclass
class GenerateEvalArguments:
    """Generated answers scored during training (`--eval_with_generate`)."""

    eval_with_generate: bool = field(
        default=False, metadata={"help": "Also generate answers for validation pairs at every evaluation and add ROUGE, BLEU, "
                                 "chrF and exact match (eval_rougeL, ...) to the evaluation's metrics."})
    max_eval_generate_samples: int = field(default=64, metadata={"help": "Validation pairs generated at each evaluation."})

    def __post_init__(self):
        require_at_least_one(self, "max_eval_generate_samples")


@dataclass
class Pairs:
    """Prompts (plain text, or chat messages ending before the assistant's answer) and their reference answers."""

    prompts: list[Prompt]
    references: list[str]

    def first(self, count: int | None) -> "Pairs":
        return self if count is None else Pairs(self.prompts[:count], self.references[:count])


def pairs_from_split(dataset, kind: str, columns: dict[str, str], tokenizer, source: str) -> Pairs:
    """The prompt and reference of each row: prompt/completion columns, or a conversation whose last turn (the
    assistant's) is the reference and whose earlier turns are the prompt (encoded with the chat template's generation
    prompt, as in training)."""
    if kind == "text":
        raise UserError(f"{source!r} is plain text; generating and scoring answers needs prompt/completion or messages data")
    if kind == "prompt_completion":
        for role in ("prompt", "completion"):
            if columns[role] not in dataset.column_names:
                raise UserError(f"{source!r} has no column {columns[role]!r}; pass --{role}_column, one of: {', '.join(dataset.column_names)}")
        references = dataset[columns["completion"]]
        _check_references(references, source)
        return Pairs(list(dataset[columns["prompt"]]), list(references))
    check_chat_template(tokenizer)
    prompts, references = [], []
    for row, messages in enumerate(dataset[columns["messages"]], 1):
        if not messages or messages[-1].get("role") != "assistant":
            raise UserError(f"{source!r} row {row}: the conversation must end with the assistant's answer, the reference")
        prompts.append(list(messages[:-1]))
        references.append(messages[-1].get("content"))
    _check_references(references, source)
    return Pairs(prompts, references)


def _check_references(references, source: str) -> None:
    for row, reference in enumerate(references, 1):
        if not isinstance(reference, str) or not reference.strip():
            raise UserError(f"{source!r} row {row}: the reference answer is empty; give every prompt its answer")


@contextlib.contextmanager
def padding_restored(tokenizer) -> Iterator[None]:
    """Generation pads on the left; training and evaluation batches after it must pad as before."""
    side, pad = tokenizer.padding_side, tokenizer.pad_token
    try:
        yield
    finally:
        tokenizer.padding_side, tokenizer.pad_token = side, pad


def generation_model(trainer) -> tuple[object, bool]:
    """The model to generate with (unwrapped from DDP, FSDP or DeepSpeed) and whether every process must step
    together (`synced_gpus`: the weights are sharded, so each forward pass needs every process)."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    deepspeed_plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    sharded = bool(getattr(trainer, "is_fsdp_enabled", False)) or bool(deepspeed_plugin and deepspeed_plugin.zero_stage == 3)
    return model, sharded


def generate_and_score(model, tokenizer, pairs: Pairs, decoding: DecodingArguments,
                       synced_gpus: bool = False) -> tuple[list[str], dict[str, float]]:
    """Greedy (or as `decoding` says) answers to `pairs.prompts`, shared out between processes and gathered in order,
    and their scores against the references (the same on every process), with the mean generated length in tokens
    and generation tokens/s."""
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    with padding_restored(tokenizer):
        answers = [texts[0] for texts in generate_across_processes(model, tokenizer, pairs.prompts, decoding, synced_gpus)]
    seconds = time.perf_counter() - start
    model.train(was_training)
    return answers, score_generated(tokenizer, answers, pairs.references, seconds)


def predict_and_write(trainer, pairs: Pairs, decoding: DecodingArguments, output_dir: Path) -> dict[str, float]:
    """`--do_predict`: answer every test prompt with the trained model; write the predictions and the scores."""
    model, synced = generation_model(trainer)
    answers, scores = generate_and_score(model, trainer.processing_class, pairs, decoding, synced)
    metrics = {f"predict_{name}": value for name, value in scores.items()} | {"predict_samples": len(answers)}
    if trainer.is_world_process_zero():
        atomic_write_jsonl(output_dir / PREDICTIONS_FILE, [{"prompt": p, "reference": r, "prediction": a}
                                                           for p, r, a in zip(pairs.prompts, pairs.references, answers)])
        atomic_write_json(output_dir / PREDICT_RESULTS_FILE, metrics)
    if getattr(trainer.args, "print_metrics", True):
        trainer.log_metrics("predict", metrics)
    return metrics


def test_pairs(data_args: LMDataArguments, tokenizer) -> Pairs:
    """The `--test_file` pairs (`--max_predict_samples` of them), checked before anything is trained or written."""
    if not data_args.test_file:
        raise UserError("--do_predict answers the prompts of a test file; pass --test_file FILE (prompt/completion or messages data)")
    check_data_file(data_args.test_file, "test file", LM_BUILDERS)
    dataset = load_data_file(data_args.test_file, "test", data_args.dataset_cache_dir)
    kind = split_format(dataset, data_args)
    return pairs_from_split(dataset, kind, instruction_columns(data_args, kind), tokenizer, data_args.test_file
                            ).first(data_args.max_predict_samples)


def generation_steps(training_args, data_args: LMDataArguments, splits, tokenizer, decoding: DecodingArguments,
                     generate_eval: GenerateEvalArguments, output_dir: Path) -> tuple[GenerationEvaluation | None, object]:
    """The run routine's generation steps for a causal LM: the scores added to every evaluation
    (`--eval_with_generate`) and the predict step (`--do_predict`), each checked now, before training."""
    evaluation, predict = None, None
    if generate_eval.eval_with_generate:
        if "validation" not in splits:
            raise UserError("--eval_with_generate scores validation answers; add --do_eval with --validation_file")
        kind = split_format(splits["validation"], data_args)
        pairs = pairs_from_split(splits["validation"], kind, instruction_columns(data_args, kind), tokenizer, "validation")
        evaluation = GenerationEvaluation(tokenizer, pairs.first(generate_eval.max_eval_generate_samples), decoding)
    if training_args.do_predict:
        pairs = test_pairs(data_args, tokenizer)
        load_generation_metric()  # a missing scorer is refused now, not after training
        predict = partial(predict_and_write, pairs=pairs, decoding=decoding, output_dir=output_dir)
    return evaluation, predict


class GenerationEvaluation:
    """`--eval_with_generate`: at every evaluation, generate answers for the validation pairs with the model being
    trained and score them (`RunParts.evaluation_scores`). The run routine's `Trainer` adds the scores to the
    evaluation's metrics with its prefix (`eval_rougeL`, `eval_before_training_rougeL`) before they are logged, so
    they reach every reporter and `--metric_for_best_model` can pick the best checkpoint by them."""

    def __init__(self, tokenizer, pairs: Pairs, decoding: DecodingArguments):
        self.tokenizer, self.pairs, self.decoding = tokenizer, pairs, decoding
        load_generation_metric()  # refuse a missing scorer before training

    def __call__(self, trainer) -> dict[str, float]:
        model, synced = generation_model(trainer)
        _, scores = generate_and_score(model, self.tokenizer, self.pairs, self.decoding, synced)
        return scores
