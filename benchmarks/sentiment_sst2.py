#!/usr/bin/env python
"""SST-2 fine-tuning, two ways in one run: static padding to 128 tokens vs this project's default.

    python benchmarks/sentiment_sst2.py --data_dir data/sst2 [--num_train_epochs 3] \
        [--max_train_samples N] [--seeds 42 43] [--output benchmarks/results/sentiment_sst2.json]

Both runs fine-tune the same model with the same hyperparameters and seed; they differ only in how
batches are padded. "static" is the classic `pad_to_max_length` recipe (every input padded to 128);
"default" is what `scripts/finetune_classifier.py` does without flags (each batch padded to its
longest input). Prints validation accuracy and training samples/s of each and writes them to JSON;
with several --seeds, the figures are means over the seeds.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from finetune.classification import train_classifier
from finetune.data import DataArguments
from finetune.training import FinetuneTrainingArguments
from finetune_toolkit.core.command_line import format_table, parse_args, run_script
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.models import ModelArguments
from finetune_toolkit.core.outputs import atomic_write_json


@dataclass
class BenchmarkArguments:
    data_dir: str = field(metadata={"help": "Directory with SST-2 train.jsonl and validation.jsonl (text, label)."})
    model_name_or_path: str = field(default="packaged:all-MiniLM-L6-v2", metadata={"help": "Encoder to fine-tune."})
    num_train_epochs: float = field(default=3, metadata={"help": "Training epochs for each run."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Train on the first N sentences only."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Evaluate on the first N sentences only."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak learning rate (linear decay)."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Training batch size."})
    warmup_ratio: float = field(default=0.06, metadata={"help": "Fraction of steps used for warmup."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    seeds: list[int] = field(
        default_factory=lambda: [42],
        metadata={"help": "Random seeds; each recipe runs once per seed and the figures are means. The two recipes "
                  "draw different dropout masks (their shapes follow the padded length), so one seed each "
                  "compares two random draws: use several to compare accuracy."},
    )
    output: str = field(default="benchmarks/results/sentiment_sst2.json", metadata={"help": "Where to write the JSON figures."})


def run_once(args: BenchmarkArguments, static: bool, seed: int, work_dir: str) -> dict[str, float]:
    """Fine-tune and evaluate once; static=True pads every input to 128 tokens."""
    data_dir = Path(args.data_dir)
    data_args = DataArguments(
        train_file=str(data_dir / "train.jsonl"),
        validation_file=str(data_dir / "validation.jsonl"),
        class_names="negative,positive",
        max_train_samples=args.max_train_samples,
        max_eval_samples=args.max_eval_samples,
        **({"pad_to_max_length": True, "max_seq_length": 128} if static else {}),
    )
    steps_per_epoch = -(-min(6920, args.max_train_samples or 6920) // args.per_device_train_batch_size)
    training_args = FinetuneTrainingArguments(
        output_dir=os.path.join(work_dir, f"{'static' if static else 'default'}-{seed}"),
        do_train=True,
        do_eval=True,
        num_train_epochs=args.num_train_epochs,
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.per_device_train_batch_size,
        per_device_eval_batch_size=128,
        warmup_steps=int(args.warmup_ratio * steps_per_epoch * args.num_train_epochs),
        weight_decay=args.weight_decay,
        save_strategy="no",
        logging_steps=50,
        seed=seed,
    )
    return train_classifier(ModelArguments(model_name_or_path=args.model_name_or_path), data_args, training_args)


def main(argv=None) -> dict:
    (args,) = parse_args((BenchmarkArguments,), argv)
    for name in ("train.jsonl", "validation.jsonl"):
        if not (Path(args.data_dir) / name).is_file():
            raise UserError(f"{args.data_dir}/{name} not found; pass --data_dir with SST-2 train.jsonl and validation.jsonl")
    runs = {"static": [], "default": []}
    with tempfile.TemporaryDirectory(prefix="sst2-bench-") as work_dir:
        for seed in args.seeds:
            for recipe in runs:
                runs[recipe].append(run_once(args, static=recipe == "static", seed=seed, work_dir=work_dir))

    def mean(recipe: str, key: str) -> float:
        return statistics.fmean(run[key] for run in runs[recipe])

    figures = {}
    for recipe in runs:
        figures[f"{recipe}_accuracy"] = mean(recipe, "eval_accuracy")
        figures[f"{recipe}_samples_per_second"] = mean(recipe, "train_samples_per_second")
        figures[f"{recipe}_f1"] = mean(recipe, "eval_f1")
        figures[f"{recipe}_train_runtime"] = mean(recipe, "train_runtime")
        figures[f"{recipe}_accuracy_per_seed"] = [run["eval_accuracy"] for run in runs[recipe]]
    figures["speedup"] = figures["default_samples_per_second"] / figures["static_samples_per_second"]
    figures["settings"] = asdict(args)
    rows = [
        {"recipe": "static (pad to 128)", "accuracy": figures["static_accuracy"], "f1": figures["static_f1"],
         "train samples/s": figures["static_samples_per_second"], "train s": figures["static_train_runtime"]},
        {"recipe": "default (dynamic)", "accuracy": figures["default_accuracy"], "f1": figures["default_f1"],
         "train samples/s": figures["default_samples_per_second"], "train s": figures["default_train_runtime"]},
    ]
    print(format_table(rows, list(rows[0])))
    print(f"speedup: {figures['speedup']:.2f}x; accuracy difference (default - static): "
          f"{100 * (figures['default_accuracy'] - figures['static_accuracy']):+.2f} points")
    atomic_write_json(args.output, figures)
    print(f"Wrote {args.output}", file=sys.stderr)
    return figures


if __name__ == "__main__":
    run_script(main)
