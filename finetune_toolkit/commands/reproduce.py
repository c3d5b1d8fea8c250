"""Reproduce the classic BERT sentiment example (SST-2) with a named preset.

    finetune-toolkit reproduce --preset bert-sentiment          # bert-base-uncased on SST-2 (Hub)
    finetune-toolkit reproduce --preset distilbert-sentiment \
        --model_name_or_path packaged:all-MiniLM-L6-v2 \
        --train_file sst2/train.jsonl --validation_file sst2/validation.jsonl   # offline

Presets (see `finetune/presets.py`) set the model and hyperparameters; any flag given after
them wins. Without --train_file or --dataset_name the data is SST-2 from the Hub (GLUE).
"""

import sys

from finetune.classification import train_classifier
from finetune.data import DataArguments
from finetune.presets import PRESETS, SST2_HUB, preset_flags
from finetune.training import FinetuneTrainingArguments
from finetune_toolkit.core.command_line import format_table, parse_args
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.models import ModelArguments


def _take_preset(argv: list[str]) -> tuple[str, list[str]]:
    """Remove `--preset NAME` (or `--preset=NAME`) from argv; default bert-sentiment."""
    for i, arg in enumerate(argv):
        if arg == "--preset":
            if i + 1 >= len(argv):
                raise UserError(f"--preset needs a name: {', '.join(PRESETS)}")
            return argv[i + 1], argv[:i] + argv[i + 2:]
        if arg.startswith("--preset="):
            return arg.split("=", 1)[1], argv[:i] + argv[i + 1:]
    return "bert-sentiment", argv


def main(argv=None) -> dict:
    preset, rest = _take_preset(list(sys.argv[1:] if argv is None else argv))
    if "-h" in rest or "--help" in rest:
        print(f"--preset PRESET       the recipe to reproduce: {', '.join(PRESETS)} (default bert-sentiment); the flags "
              "below override it\n")
    flags = preset_flags(preset)
    if not any(a.split("=")[0] in ("--train_file", "--validation_file", "--dataset_name") for a in rest):
        for key, value in SST2_HUB.items():
            flags += [f"--{key}", value]
    if not any(a.split("=")[0] == "--output_dir" for a in rest):
        flags += ["--output_dir", f"outputs/{preset}"]
    if not any(a.split("=")[0] in ("--do_train", "--do_eval", "--do_predict") for a in rest):
        flags += ["--do_train", "--do_eval"]
    model_args, data_args, training_args = parse_args((ModelArguments, DataArguments, FinetuneTrainingArguments), flags + rest)
    metrics = train_classifier(model_args, data_args, training_args)
    row = {
        "preset": preset,
        "model": model_args.model_name_or_path,
        "accuracy": metrics.get("eval_accuracy"),
        "f1": metrics.get("eval_f1"),
        "train time (s)": metrics.get("train_runtime"),
        "train samples/s": metrics.get("train_samples_per_second"),
    }
    print(format_table([row], list(row)))
    return metrics

