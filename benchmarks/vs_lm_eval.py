#!/usr/bin/env python
"""This project vs lm-evaluation-harness on the same few-shot SST-2 prompts, side by side in one run.

    pip install -e .[bench]      # lm-eval with its Transformers backend
    python benchmarks/vs_lm_eval.py --data_dir data/sst2 [--shots 0 4 8] [--max_eval_samples N] \
        [--output benchmarks/results/vs_lm_eval.json]

Both tools get the same model object (the packaged SmolLM2-135M-Instruct, float32, CPU unless a GPU is
present), the built-in `sentiment` template exported as an lm-eval task that reads the local files (no
Hub), and the same fixed demonstrations: the first k train sentences (lm-eval's `first_n` sampler, our
`--selection first_n`). Choices are " negative" / " positive". One rendered prompt from each tool is
printed and must be the same string. lm-eval runs with the batch size that is fastest for it on this
machine (timed on a few examples first, `--lm_eval_batch_size` to fix it). Model loading is not timed.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from prompts.classifier import FewShotClassifier, FewShotConfig
from prompts.data import LabelledExamples
from prompts.data import FewShotDataArguments, load_fewshot_data
from prompts.lm_eval_task import write_lm_eval_task
from prompts.template import load_template
from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.command_line import format_table, parse_args, run_script
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.outputs import atomic_write_json

TASK = "finetune_toolkit_sst2"


@dataclass
class BenchmarkArguments:
    data_dir: str = field(default="data/sst2", metadata={"help": "Directory with train.jsonl and validation.jsonl."})
    model_name_or_path: str = field(default="packaged:SmolLM2-135M-Instruct", metadata={"help": "Causal LM for both tools."})
    shots: list[int] = field(default_factory=lambda: [0, 4, 8], metadata={"help": "Shot counts to compare.", "nargs": "+"})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Only the first N validation sentences."})
    batch_size: int = field(default=16, metadata={"help": "This project's batch size."})
    lm_eval_batch_size: int | None = field(default=None, metadata={"help": "lm-eval's batch size (default: the fastest of 8, 16, 32, 64)."})
    output: str = field(default="benchmarks/results/vs_lm_eval.json", metadata={"help": "Where the JSON figures go."})


def _lm_eval():
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise UserError("lm-eval is not installed; run `pip install -e .[bench]` first") from None
    return lm_eval, HFLM, TaskManager


def run_lm_eval(lm_eval, lm, manager, shots: int, limit: int | None, task: str = TASK):
    """lm-eval's predictions (argmax log-likelihood per doc), its first prompt, its wall seconds and its accuracy."""
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(model=lm, tasks=[task], num_fewshot=shots, limit=limit, log_samples=True,
                                  task_manager=manager, bootstrap_iters=0)
    seconds = time.perf_counter() - start
    samples = sorted(out["samples"][task], key=lambda s: s["doc_id"])
    predictions = [max(range(len(s["filtered_resps"])), key=lambda i: s["filtered_resps"][i][0]) for s in samples]
    return predictions, samples[0]["arguments"][0][0], seconds, out["results"][task]["acc,none"]


def fastest_lm_eval_batch_size(lm_eval, HFLM, model, tokenizer, manager, candidates=(8, 16, 32, 64), probe=64) -> int:
    timings = {}
    for size in candidates:
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=size)
        timings[size] = run_lm_eval(lm_eval, lm, manager, 4, probe)[2]
    print("lm-eval batch size probe (4-shot, %d examples): %s" % (probe, ", ".join(f"{b}: {t:.1f} s" for b, t in timings.items())))
    return min(timings, key=timings.get)


def main(argv=None) -> list[dict]:
    (args,) = parse_args((BenchmarkArguments,), argv)
    lm_eval, HFLM, TaskManager = _lm_eval()
    data_dir = Path(args.data_dir)
    train, validation = data_dir / "train.jsonl", data_dir / "validation.jsonl"
    if not train.is_file() or not validation.is_file():
        raise UserError(f"{args.data_dir!r} needs train.jsonl and validation.jsonl; pass --data_dir")
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    template = load_template("sentiment")
    pool, evaluation = load_fewshot_data(FewShotDataArguments(train_file=str(train), validation_file=str(validation),
                                                              max_eval_samples=args.max_eval_samples), template, need_pool=True)
    model, tokenizer = load_generator(args.model_name_or_path)
    task_dir = Path(tempfile.mkdtemp(prefix="lm-eval-task-"))
    write_lm_eval_task(task_dir, template, str(train), str(validation), task_name=TASK)
    manager = TaskManager(include_path=str(task_dir), include_defaults=False)
    # Warm both up outside the timings.
    FewShotClassifier(model, tokenizer, template, pool, FewShotConfig(shots=1, selection="first_n", progress=False)).predict(
        LabelledExamples(evaluation.fields[:4], evaluation.labels[:4]))
    lm_eval_batch = args.lm_eval_batch_size or fastest_lm_eval_batch_size(lm_eval, HFLM, model, tokenizer, manager)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=lm_eval_batch)

    records = []
    for shots in args.shots:
        config = FewShotConfig(shots=shots, selection="first_n", batch_size=args.batch_size)
        start = time.perf_counter()
        ours = FewShotClassifier(model, tokenizer, template, pool, config).predict(evaluation)
        ours_seconds = time.perf_counter() - start
        theirs, their_prompt, lm_eval_seconds, lm_eval_accuracy = run_lm_eval(lm_eval, lm, manager, shots, args.max_eval_samples)
        print(f"\n--- {shots}-shot prompt, this project ---\n{ours.example_prompt}\n--- {shots}-shot prompt, lm-eval ---\n{their_prompt}\n")
        if ours.example_prompt != their_prompt:
            raise SystemExit(f"the {shots}-shot prompts differ between the tools; fix the task export")
        n = len(evaluation)
        differing = [i for i in range(n) if ours.predictions[i] != theirs[i]]
        accuracy = sum(p == y for p, y in zip(ours.predictions, evaluation.labels)) / n
        records.append({
            "shots": shots, "examples": n, "ours_accuracy": round(accuracy, 4), "lm_eval_accuracy": round(lm_eval_accuracy, 4),
            "differing_predictions": len(differing), "differing_examples": differing[:20],
            "ours_seconds": round(ours_seconds, 2), "lm_eval_seconds": round(lm_eval_seconds, 2),
            "ours_examples_per_second": round(n / ours_seconds, 2), "lm_eval_examples_per_second": round(n / lm_eval_seconds, 2),
            "speedup": round(lm_eval_seconds / ours_seconds, 2), "lm_eval_batch_size": lm_eval_batch,
            "ours_batch_size": args.batch_size, "device": str(model.device), "lm_eval_version": lm_eval.__version__,
        })
        print(format_table([records[-1]], ["shots", "ours_accuracy", "lm_eval_accuracy", "differing_predictions", "ours_seconds",
                                           "lm_eval_seconds", "speedup"]))
        atomic_write_json(args.output, records)
    print("\n" + format_table(records, ["shots", "examples", "ours_accuracy", "lm_eval_accuracy", "differing_predictions",
                                        "ours_examples_per_second", "lm_eval_examples_per_second", "speedup"]))
    print(f"written to {args.output}")
    return records


if __name__ == "__main__":
    run_script(main)
