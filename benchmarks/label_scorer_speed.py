#!/usr/bin/env python
"""Few-shot classification speed of this code against an earlier revision, side by side in one run.

    python benchmarks/label_scorer_speed.py --data_dir DIR [--compare_ref f158d4e 37bd3cc] [--shots 8] [--limit 120]

`FewShotClassifier.predict` with packaged SmolLM2-135M-Instruct, `--shots` fixed demonstrations (`first_n`) from
DIR/train.jsonl, on the first `--limit` sentences of DIR/validation.jsonl (SST-2: `text`, `label`). Each process
loads the model once and makes `--calls` `predict` calls with a new classifier each, as a sweep makes one per run,
so a check paid on every call shows. Each revision runs in its own process (the others from temporary git
worktrees), alternating, `--repeats` times. Prints examples/s over all calls (best and median) and the ratios to
each reference, writes JSON, and checks that all sides predicted the same labels.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Arguments:
    data_dir: str = field(metadata={"help": "A folder with train.jsonl and validation.jsonl (text, label)."})
    compare_ref: list[str] = field(default_factory=lambda: ["f158d4e"], metadata={
        "help": "Revisions to compare with.", "nargs": "*"})
    calls: int = field(default=3, metadata={"help": "predict calls per process (runs of a sweep)."})
    shots: int = field(default=8, metadata={"help": "Demonstrations per prompt."})
    limit: int = field(default=120, metadata={"help": "Validation sentences scored."})
    repeats: int = field(default=2, metadata={"help": "Runs of each side, alternating."})
    output: str = field(default="benchmarks/results/label_scorer_speed.json", metadata={"help": "Where the figures go."})
    raw: bool = field(default=False, metadata={"help": "Internal: run once on the code in the current folder, print JSON."})


def run_once(args: Arguments) -> dict:
    """One `predict` call on the code importable from the current folder (this tree or the other revision's)."""
    try:
        from finetune_toolkit.core.causal_lm import load_generator
    except ImportError:  # revisions before the finetune_toolkit.core layout
        from toolkit.causal_lm import load_generator
    from prompts.classifier import FewShotClassifier
    from prompts.data import LabelledExamples
    from prompts.run_types import FewShotConfig
    from prompts.template import load_template

    def rows(name: str, count: int | None = None) -> list[dict]:
        lines = (Path(args.data_dir) / name).read_text().splitlines()
        return [json.loads(line) for line in lines[:count]]

    train, validation = rows("train.jsonl", 64), rows("validation.jsonl", args.limit)
    model, tokenizer = load_generator("packaged:SmolLM2-135M-Instruct")
    pool = LabelledExamples([{"text": row["text"]} for row in train], [row["label"] for row in train])
    config = FewShotConfig(shots=args.shots, selection="first_n", progress=False)
    call_seconds = []
    for _ in range(args.calls):
        start = time.perf_counter()
        classifier = FewShotClassifier(model, tokenizer, load_template("sentiment"), pool, config)
        result = classifier.predict([row["text"] for row in validation])
        call_seconds.append(time.perf_counter() - start)
    seconds = sum(call_seconds)
    import prompts

    # Later calls: the scoring loop alone, once any check on the model has been paid by the first call.
    later = call_seconds[1:] or call_seconds
    return {"seconds": seconds, "examples_per_second": args.calls * len(validation) / seconds,
            "later_calls_examples_per_second": len(later) * len(validation) / sum(later), "call_seconds": call_seconds,
            "predictions": [int(p) for p in result.predictions], "code": str(Path(prompts.__file__).parent.parent)}


def side(folder: Path, args: Arguments) -> dict:
    flags = ["--data_dir", str(Path(args.data_dir).resolve()), "--shots", str(args.shots), "--limit", str(args.limit),
             "--calls", str(args.calls), "--raw"]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "label_scorer_speed.py"), *flags], cwd=folder,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(folder)})
    if done.returncode != 0:
        raise SystemExit(f"the run in {folder} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(result["code"]).resolve() != folder.resolve():
        raise SystemExit(f"the run meant for {folder} imported the code in {result['code']}")
    return result


def main() -> None:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(Arguments).parse_args_into_dataclasses()
    if args.raw:
        print(json.dumps(run_once(args)))
        return
    folders = {"now": ROOT}
    runs: dict[str, list[dict]] = {"now": []}
    with tempfile.TemporaryDirectory() as scratch:
        for ref in args.compare_ref:
            folders[ref] = Path(scratch) / ref
            runs[ref] = []
            subprocess.run(["git", "worktree", "add", "--detach", str(folders[ref]), ref], cwd=ROOT, check=True,
                           capture_output=True)
        try:
            for _ in range(args.repeats):
                for name, folder in folders.items():
                    runs[name].append(side(folder, args))
        finally:
            for ref in args.compare_ref:
                subprocess.run(["git", "worktree", "remove", "--force", str(folders[ref])], cwd=ROOT, capture_output=True)
    report = {"shots": args.shots, "examples": args.limit, "calls": args.calls, "repeats": args.repeats}
    for name, results in runs.items():
        rates = [r["examples_per_second"] for r in results]
        loop = [r["later_calls_examples_per_second"] for r in results]
        report[name] = {"best_examples_per_second": max(rates), "median_examples_per_second": statistics.median(rates),
                        "all": rates, "best_later_calls_examples_per_second": max(loop),
                        "call_seconds": [r["call_seconds"] for r in results]}
    for ref in args.compare_ref:
        report[f"speedup_best_vs_{ref}"] = report["now"]["best_examples_per_second"] / report[ref]["best_examples_per_second"]
        report[f"speedup_median_vs_{ref}"] = report["now"]["median_examples_per_second"] / report[ref]["median_examples_per_second"]
        report[f"loop_speedup_best_vs_{ref}"] = (report["now"]["best_later_calls_examples_per_second"]
                                                 / report[ref]["best_later_calls_examples_per_second"])
    report["same_predictions"] = all(r["predictions"] == runs["now"][0]["predictions"] for rs in runs.values() for r in rs)
    print(json.dumps(report, indent=2))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
