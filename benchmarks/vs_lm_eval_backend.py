#!/usr/bin/env python
"""lm-evaluation-harness's `hf` backend vs `ToolkitLM` on the same lm-eval tasks, side by side in one run.

    pip install -e .[bench]
    python benchmarks/vs_lm_eval_backend.py [--data_dir data/sst2] [--shots 0 5] [--samplers default first_n] \
        [--output benchmarks/results/vs_lm_eval_backend.json]

Both backends get the same model object (the packaged SmolLM2-135M-Instruct, float32, CPU unless a GPU is present)
and run `lm_eval.simple_evaluate` on the same task YAMLs, written here on local files:

- `antonyms_mc`: multiple choice, four options per question (the package's `antonyms` example, 40 questions);
- `arithmetic_gen`: `generate_until` a newline, at most 8 tokens, exact match (the `arithmetic` example, 64);
- with `--data_dir` (a folder with SST-2's train.jsonl and validation.jsonl, `python benchmarks/prepare_sst2.py`):
  `sst2_mc` (" negative" / " positive", `--limit` sentences) and `sst2_ppl` (`loglikelihood_rolling` of each
  validation sentence: word perplexity).

`--samplers`: lm-eval's `default` sampler draws each document's demonstrations at random (so prompts share only
their start), `first_n` gives every document the same first k (so the whole few-shot prefix is shared).
Requests/s is lm-eval's requests (one per option, answer or document) over wall seconds of `simple_evaluate`, model
loading excluded: what a user waits for. `model_speedup` compares the seconds spent inside each backend's request
methods (`loglikelihood`, `loglikelihood_rolling`, `generate_until`) only, without lm-eval's request building,
metrics and environment report, which both backends pay alike. A row that runs for seconds only is repeated,
both backends alternately, and its medians reported (`repeats`). Checked per row: multiple choice `acc` and
`acc_norm` equal and the largest per-option log-likelihood difference; generation identical text and equal
`exact_match`; perplexity the relative difference.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.command_line import format_table, parse_args, run_script
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.outputs import atomic_write_json
from finetune_toolkit.evaluation.harness import import_lm_eval
from prompts.example_tasks import example_dir


@dataclass
class BenchmarkArguments:
    model_name_or_path: str = field(default="packaged:SmolLM2-135M-Instruct", metadata={"help": "Causal LM for both."})
    data_dir: str | None = field(default=None, metadata={"help": "SST-2 folder (train.jsonl, validation.jsonl) for sst2_* tasks."})
    shots: list[int] = field(default_factory=lambda: [0, 5], metadata={"help": "Shot counts.", "nargs": "+"})
    samplers: list[str] = field(default_factory=lambda: ["default", "first_n"], metadata={"help": "lm-eval samplers.", "nargs": "+"})
    limit: int = field(default=200, metadata={"help": "Documents of each SST-2 task."})
    min_seconds: float = field(default=10.0, metadata={"help": "Repeat a short row (both backends, alternately, at most 5 times) until ours has run this long; medians are reported."})
    lm_eval_batch_size: int | None = field(default=None, metadata={"help": "lm-eval's batch size (default: the fastest of 8, 16, 32)."})
    output: str = field(default="benchmarks/results/vs_lm_eval_backend.json", metadata={"help": "Where the JSON figures go."})


def _source(train: Path, evaluation: Path) -> dict:
    return {"dataset_path": "json", "dataset_kwargs": {"data_files": {"train": str(train), "validation": str(evaluation)}},
            "training_split": "train", "validation_split": "validation", "fewshot_split": "train"}


def write_tasks(directory: Path, sampler: str, data_dir: str | None) -> list[str]:
    """The benchmark's task YAMLs (see the module docstring) with `sampler`; returns their names."""
    suffix = "" if sampler == "default" else f"_{sampler}"
    antonyms, arithmetic = example_dir("antonyms"), example_dir("arithmetic")
    fewshot = {"fewshot_config": {"sampler": sampler}}
    tasks = [
        {"task": f"antonyms_mc{suffix}", **_source(antonyms / "train.jsonl", antonyms / "validation.jsonl"), **fewshot,
         "output_type": "multiple_choice", "doc_to_text": "The opposite of {{word}} is", "doc_to_choice": "{{choices}}",
         "doc_to_target": "label", "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}]},
        {"task": f"arithmetic_gen{suffix}", **_source(arithmetic / "train.jsonl", arithmetic / "validation.jsonl"), **fewshot,
         "output_type": "generate_until", "doc_to_text": "Question: {{question}}\nAnswer:", "doc_to_target": "{{label}}",
         "target_delimiter": " ", "generation_kwargs": {"until": ["\n"], "max_gen_toks": 8, "do_sample": False},
         "metric_list": [{"metric": "exact_match"}],
         "filter_list": [{"name": "strip", "filter": [{"function": "remove_whitespace"}, {"function": "take_first"}]}]},
    ]
    if data_dir is not None:
        train, validation = Path(data_dir) / "train.jsonl", Path(data_dir) / "validation.jsonl"
        if not train.is_file() or not validation.is_file():
            raise UserError(f"--data_dir {data_dir!r} needs train.jsonl and validation.jsonl (python benchmarks/prepare_sst2.py)")
        tasks.append({"task": f"sst2_mc{suffix}", **_source(train, validation), **fewshot, "output_type": "multiple_choice",
                      "doc_to_text": "Review: {{text}}\nSentiment:", "doc_to_choice": ["negative", "positive"],
                      "doc_to_target": "label", "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}]})
        if sampler == "default":
            tasks.append({"task": "sst2_ppl", **_source(train, validation), "output_type": "loglikelihood_rolling",
                          "doc_to_text": "", "doc_to_target": "{{text}}",
                          "metric_list": [{"metric": "word_perplexity"}, {"metric": "byte_perplexity"}]})
    for task in tasks:
        (directory / f"{task['task']}.yaml").write_text(yaml.safe_dump(task, sort_keys=False))
    return [task["task"] for task in tasks]


REQUEST_METHODS = ("loglikelihood", "loglikelihood_rolling", "generate_until")


def time_requests(lm) -> dict:
    """Wrap `lm`'s three request methods (what `simple_evaluate` calls on a model) to add their wall seconds to the
    returned dict's "seconds": the backend's own time, without lm-eval's request building and metrics."""
    clock = {"seconds": 0.0}

    def timed(method):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                clock["seconds"] += time.perf_counter() - start
        return run

    for name in REQUEST_METHODS:
        setattr(lm, name, timed(getattr(lm, name)))
    return clock


def evaluate(lm_eval, lm, manager, task: str, shots: int, limit: int | None):
    """Samples in document order, metrics, wall seconds of `simple_evaluate`, seconds in the model's request methods."""
    clock = getattr(lm, "request_clock", None)
    before = clock["seconds"] if clock else 0.0
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(model=lm, tasks=[task], num_fewshot=shots, limit=limit, log_samples=True,
                                  task_manager=manager, bootstrap_iters=0)
    seconds = time.perf_counter() - start
    model_seconds = clock["seconds"] - before if clock else None
    return sorted(out["samples"][task], key=lambda s: s["doc_id"]), out["results"][task], seconds, model_seconds


def timed_pair(lm_eval, ours, theirs, manager, task: str, shots: int, limit: int | None, min_seconds: float):
    """Both backends on one task, alternately, repeated (at most 5 times) until ours has run `min_seconds`: the first
    runs' samples and metrics with the median wall and model seconds of all runs, and the number of runs."""
    our_runs, their_runs = [], []
    while not our_runs or (len(our_runs) < 5 and sum(run[2] for run in our_runs) < min_seconds):
        our_runs.append(evaluate(lm_eval, ours, manager, task, shots, limit))
        their_runs.append(evaluate(lm_eval, theirs, manager, task, shots, limit))

    def summary(runs):
        first = runs[0]
        return (first[0], first[1], statistics.median(run[2] for run in runs), statistics.median(run[3] for run in runs))

    return summary(our_runs), summary(their_runs), len(our_runs)


def agreement(kind: str, ours: tuple, theirs: tuple) -> dict:
    (our_samples, our_metrics, *_), (their_samples, their_metrics, *_) = ours, theirs
    if kind == "multiple_choice":
        return {"ours_acc": our_metrics["acc,none"], "lm_eval_acc": their_metrics["acc,none"],
                "ours_acc_norm": our_metrics["acc_norm,none"], "lm_eval_acc_norm": their_metrics["acc_norm,none"],
                "max_log_likelihood_difference": max(abs(a[0][0] - b[0][0]) for s, t in zip(our_samples, their_samples)
                                                     for a, b in zip(s["resps"], t["resps"]))}
    if kind == "generate_until":
        return {"ours_exact_match": our_metrics["exact_match,strip"], "lm_eval_exact_match": their_metrics["exact_match,strip"],
                "differing_texts": sum(s["resps"] != t["resps"] for s, t in zip(our_samples, their_samples))}
    ours_ppl, their_ppl = our_metrics["word_perplexity,none"], their_metrics["word_perplexity,none"]
    return {"ours_word_perplexity": ours_ppl, "lm_eval_word_perplexity": their_ppl,
            "word_perplexity_relative_difference": abs(ours_ppl - their_ppl) / their_ppl}


def main(argv=None) -> list[dict]:
    (args,) = parse_args((BenchmarkArguments,), argv)
    lm_eval = import_lm_eval()
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from finetune_toolkit.evaluation.lm_eval_model import ToolkitLM

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    model, tokenizer = load_generator(args.model_name_or_path)
    directory = Path(tempfile.mkdtemp(prefix="lm-eval-backend-"))
    names = {sampler: write_tasks(directory, sampler, args.data_dir) for sampler in args.samplers}
    manager = TaskManager(include_path=str(directory), include_defaults=False)
    ours = ToolkitLM(model, tokenizer=tokenizer)
    first = names[args.samplers[0]][0]
    evaluate(lm_eval, ours, manager, first, 1, 4)  # warm-up (and the fast path's one check against the plain one)
    if args.lm_eval_batch_size is None:
        timings = {size: evaluate(lm_eval, HFLM(pretrained=model, tokenizer=tokenizer, batch_size=size), manager, first, 5, 16)[2]
                   for size in (8, 16, 32)}
        print("lm-eval batch size probe (5-shot, 16 documents): " + ", ".join(f"{b}: {t:.1f} s" for b, t in timings.items()))
        lm_eval_batch = min(timings, key=timings.get)
    else:
        lm_eval_batch = args.lm_eval_batch_size
    theirs = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=lm_eval_batch)
    ours.request_clock, theirs.request_clock = time_requests(ours), time_requests(theirs)
    records = []
    for sampler in args.samplers:
        for task in names[sampler]:
            kind = yaml.safe_load((directory / f"{task}.yaml").read_text())["output_type"]
            limit = args.limit if task.startswith("sst2") else None
            for shots in args.shots if kind != "loglikelihood_rolling" else [0]:
                our_run, their_run, repeats = timed_pair(lm_eval, ours, theirs, manager, task, shots, limit, args.min_seconds)
                requests = sum(len(sample["resps"]) for sample in our_run[0])
                records.append({
                    "task": task, "type": kind, "sampler": sampler if kind != "loglikelihood_rolling" else None,
                    "shots": shots, "documents": len(our_run[0]), "requests": requests, **agreement(kind, our_run, their_run),
                    "ours_seconds": round(our_run[2], 2), "lm_eval_seconds": round(their_run[2], 2),
                    "ours_requests_per_second": round(requests / our_run[2], 2),
                    "lm_eval_requests_per_second": round(requests / their_run[2], 2),
                    "speedup": round(their_run[2] / our_run[2], 2),
                    "ours_model_seconds": round(our_run[3], 2), "lm_eval_model_seconds": round(their_run[3], 2),
                    "model_speedup": round(their_run[3] / our_run[3], 2), "repeats": repeats, "lm_eval_batch_size": lm_eval_batch,
                    "ours_batch_size": "auto", "device": str(model.device), "lm_eval_version": lm_eval.__version__,
                })
                print(format_table([records[-1]], ["task", "sampler", "shots", "requests", "ours_seconds", "lm_eval_seconds", "speedup", "model_speedup"]))
                atomic_write_json(args.output, records)
    print("\n" + format_table(records, ["task", "type", "sampler", "shots", "requests", "ours_requests_per_second",
                                        "lm_eval_requests_per_second", "speedup", "model_speedup"]))
    print(json.dumps({"written": args.output}))
    return records


if __name__ == "__main__":
    run_script(main)
