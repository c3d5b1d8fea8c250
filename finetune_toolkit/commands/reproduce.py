"""Reproduce the classic BERT sentiment example (SST-2), or an in-context-learning paper, with a named preset.

    finetune-toolkit reproduce --preset bert-sentiment          # bert-base-uncased on SST-2 (Hub)
    finetune-toolkit reproduce --preset distilbert-sentiment \
        --model_name_or_path packaged:all-MiniLM-L6-v2 \
        --train_file sst2/train.jsonl --validation_file sst2/validation.jsonl   # offline
    finetune-toolkit reproduce --preset min2022                 # random vs gold demonstration labels
    finetune-toolkit reproduce --preset wei2023                 # flipped and unrelated labels
    finetune-toolkit reproduce --preset lu2022                  # every order of 4 demonstrations

Fine-tuning presets (see `finetune/presets.py`) set the model and hyperparameters; any flag given after them wins.
Without --train_file or --dataset_name the data is SST-2 from the Hub (GLUE). The paper presets
(`prompts/paper_presets.py`) run a few-shot sweep with packaged SmolLM2-135M-Instruct on the shipped movie reviews
(offline; `--dataset_name nyu-mll/glue --dataset_config_name sst2 --text_columns sentence` for SST-2) and write
`report.md`: the claim, this run's numbers and what they show.
"""

import sys
from pathlib import Path

from finetune.classification import train_classifier
from finetune.data import DataArguments
from finetune.data import movie_review_files
from finetune.presets import PRESETS, SST2_HUB, preset_flags
from finetune.training import FinetuneTrainingArguments
from finetune_toolkit.core.command_line import format_table, parse_args
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.models import ModelArguments
from finetune_toolkit.report.arguments import ReportArguments, report_at_end
from finetune_toolkit.core.outputs import atomic_write_text


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


def _given(rest: list[str], *names: str) -> bool:
    return any(arg.split("=")[0] in names for arg in rest)


def reproduce_paper(preset: str, rest: list[str]) -> list[dict]:
    """One of `PAPER_PRESETS`: its sweep on the shipped reviews with SmolLM2 unless told otherwise, then report.md."""
    from prompts.data import FewShotDataArguments
    from prompts.paper_presets import PAPER_PRESETS, write_report
    from prompts.sweep import run_sweep
    from prompts.sweep_arguments import SweepArguments

    flags = list(PAPER_PRESETS[preset].flags)
    if not _given(rest, "--model_name_or_path"):
        flags += ["--model_name_or_path", "packaged:SmolLM2-135M-Instruct"]
    data = "the shipped movie reviews (320 pool, 120 evaluated)"
    if not _given(rest, "--train_file", "--validation_file", "--dataset_name"):
        files = movie_review_files()
        flags += ["--train_file", files["train"], "--validation_file", files["test"]]
    else:
        data = "as given on the command line"
    if not _given(rest, "--output_dir"):
        flags += ["--output_dir", f"outputs/{preset}"]
    sweep, data_args, page = parse_args((SweepArguments, FewShotDataArguments, ReportArguments), flags + rest)
    rows = run_sweep(sweep, data_args)
    output = Path(sweep.output_dir)
    extra = (output / "order_choice.csv").is_file() and _order_choice_lines(output / "order_choice.csv") or []
    report = write_report(preset, rows, extra, ", ".join(sweep.model_name_or_path), data)
    atomic_write_text(output / "report.md", report)
    print(report)
    print(f"report: {output / 'report.md'}")
    report_at_end(output, page)
    return rows


def _order_choice_lines(path: Path) -> list[str]:
    import csv

    lines = []
    for row in csv.DictReader(path.open(encoding="utf-8")):
        lines.append(f"Set {row['set']}: the order {row['statistic']} chose from {row['probes']} generated probes reached "
                     f"{100 * float(row['chosen_accuracy']):.1f}% against the orders' mean {100 * float(row['mean_accuracy']):.1f}% "
                     f"(best {100 * float(row['best_accuracy']):.1f}%, worst {100 * float(row['worst_accuracy']):.1f}%).")
    return lines


def main(argv=None) -> dict:
    from prompts.paper_presets import PAPER_PRESETS

    preset, rest = _take_preset(list(sys.argv[1:] if argv is None else argv))
    if preset in PAPER_PRESETS:
        return reproduce_paper(preset, rest)
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of: {', '.join([*PRESETS, *PAPER_PRESETS])}")
    if "-h" in rest or "--help" in rest:
        print(f"--preset PRESET       the recipe to reproduce: {', '.join([*PRESETS, *PAPER_PRESETS])} (default "
              "bert-sentiment); the flags below override it\n")
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

