#!/usr/bin/env python
"""Demonstration studies against lm-evaluation-harness on the same prompts, side by side in one run.

    pip install -e .[bench]
    python benchmarks/vs_lm_eval_conditions.py --data_dir DIR [--max_eval_samples 200] \
        [--output benchmarks/results/vs_lm_eval_conditions.json]

SST-2 sentences (DIR/train.jsonl, DIR/validation.jsonl), packaged SmolLM2-135M-Instruct, the built-in `sentiment`
template exported as an lm-eval task on the same files; both tools get the same model object.

1. Every order (Lu et al.): the first 4 train sentences in all 24 orders, on the first `--max_eval_samples`
   validation sentences. The toolkit runs the 24 orders as a sweep does (one `FewShotClassifier.predict` per order,
   one prefix tree for all); lm-eval has no order study, so it runs the selection's own order (its `first_n` sampler)
   and its time is counted 24 times. The orders' predictions are compared with lm-eval's on that order.
2. Flipped and unrelated labels (Wei et al.): k=4 with `first_n`, against lm-eval tasks that show the same
   demonstrations (a few-shot split with flipped labels; `doc_to_choice: ["foo", "bar"]`).
3. A Min et al. grid: 5 shares of correct labels x 5 seeds at k=8, the toolkit alone, timed.

Prints a table and writes JSON: `orders_speedup` (lm-eval's seconds for one order x 24 / ours for 24), and for
each comparison the accuracies and the number of differing predictions.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.command_line import format_table, parse_args, run_script
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.outputs import atomic_write_json
from finetune_toolkit.core.prefixes import PrefixStore
from prompts.classifier import FewShotClassifier
from prompts.data import FewShotDataArguments, LabelledExamples, load_fewshot_data
from prompts.lm_eval_task import write_lm_eval_task
from prompts.order_study import order_permutations
from prompts.run_types import FewShotConfig
from prompts.template import PromptTemplate, load_template
from prompts.verbalizer import Verbalizer
from vs_lm_eval import run_lm_eval  # benchmarks/ is on the path when this file runs as a script


@dataclass
class BenchmarkArguments:
    data_dir: str = field(metadata={"help": "A folder with train.jsonl and validation.jsonl (text, label)."})
    model_name_or_path: str = field(default="packaged:SmolLM2-135M-Instruct", metadata={"help": "Causal LM for both tools."})
    max_eval_samples: int = field(default=200, metadata={"help": "Validation sentences scored."})
    lm_eval_batch_size: int = field(default=32, metadata={"help": "lm-eval's batch size (32 was its fastest here)."})
    skip_grid: bool = field(default=False, metadata={"help": "Leave out the Min et al. grid."})
    output: str = field(default="benchmarks/results/vs_lm_eval_conditions.json", metadata={"help": "Where the figures go."})


def lm_eval_run(lm_eval, lm, task_dir: Path, task: str, shots: int, limit: int):
    """`vs_lm_eval.run_lm_eval` on the task written in `task_dir`: predictions, first prompt, seconds."""
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(task_dir), include_defaults=False)
    return run_lm_eval(lm_eval, lm, manager, shots, limit, task)[:3]


def compare(name, ours, theirs, labels, ours_seconds, their_seconds, our_prompt, their_prompt) -> dict:
    if our_prompt != their_prompt:
        raise SystemExit(f"{name}: the prompts differ between the tools:\n{our_prompt!r}\n{their_prompt!r}")
    n = len(labels)
    return {"comparison": name, "examples": n,
            "ours_accuracy": round(sum(p == y for p, y in zip(ours, labels)) / n, 4),
            "lm_eval_accuracy": round(sum(p == y for p, y in zip(theirs, labels)) / n, 4),
            "differing_predictions": sum(a != b for a, b in zip(ours, theirs)),
            "ours_seconds": round(ours_seconds, 2), "lm_eval_seconds": round(their_seconds, 2)}


def main(argv=None) -> dict:
    (args,) = parse_args((BenchmarkArguments,), argv)
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        raise UserError("this benchmark needs lm-eval: pip install -e .[bench]") from None
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    data_dir = Path(args.data_dir)
    train, validation = data_dir / "train.jsonl", data_dir / "validation.jsonl"
    if not train.is_file() or not validation.is_file():
        raise UserError(f"{args.data_dir!r} needs train.jsonl and validation.jsonl; pass --data_dir")
    template = load_template("sentiment")
    pool, evaluation = load_fewshot_data(FewShotDataArguments(train_file=str(train), validation_file=str(validation),
                                                              max_eval_samples=args.max_eval_samples), template, True)
    model, tokenizer = load_generator(args.model_name_or_path)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.lm_eval_batch_size)
    work = Path(tempfile.mkdtemp(prefix="conditions-"))
    n = len(evaluation)
    report: dict = {"model": args.model_name_or_path, "examples": n, "device": str(model.device),
                    "lm_eval_version": lm_eval.__version__, "comparisons": []}
    # Warm both up outside the timings.
    FewShotClassifier(model, tokenizer, template, pool, FewShotConfig(shots=1, selection="first_n", progress=False)).predict(
        LabelledExamples(evaluation.fields[:4], evaluation.labels[:4]))

    # 1. Every order of 4 demonstrations.
    write_lm_eval_task(work / "gold", template, str(train), str(validation), task_name="sst2_gold")
    theirs, their_prompt, their_seconds = lm_eval_run(lm_eval, lm, work / "gold", "sst2_gold", 4, n)
    store, orders, results = PrefixStore(), order_permutations(4, "all", 0), []
    start = time.perf_counter()
    for order in orders:
        config = FewShotConfig(shots=4, selection="first_n", demo_order=order, prefix_store=store, progress=False)
        results.append(FewShotClassifier(model, tokenizer, template, pool, config).predict(evaluation))
    ours_seconds = time.perf_counter() - start
    identity = results[0]
    row = compare("4-shot, the selection's order", identity.predictions, theirs, evaluation.labels, ours_seconds / 24,
                  their_seconds, identity.example_prompt, their_prompt)
    accuracies = [sum(p == y for p, y in zip(r.predictions, evaluation.labels)) / n for r in results]
    report["orders"] = {"orders": 24, "ours_seconds_24_orders": round(ours_seconds, 2),
                        "lm_eval_seconds_one_order": round(their_seconds, 2),
                        "lm_eval_seconds_24_orders": round(24 * their_seconds, 2),
                        "orders_speedup": round(24 * their_seconds / ours_seconds, 2),
                        "ours_examples_per_second": round(24 * n / ours_seconds, 2),
                        "accuracy_min": round(min(accuracies), 4), "accuracy_max": round(max(accuracies), 4),
                        "prefix_tokens_computed": store.computed_tokens}
    report["comparisons"].append(row)
    print(json.dumps(report["orders"], indent=2), flush=True)

    # 2. Flipped and unrelated labels, each against the lm-eval task that shows the same demonstrations.
    train_rows = [json.loads(line) for line in train.read_text().splitlines()]
    flipped_train = work / "flipped_train.jsonl"
    flipped_train.write_text("".join(json.dumps({**r, "label": 1 - r["label"]}) + "\n" for r in train_rows))
    write_lm_eval_task(work / "flipped", template, str(flipped_train), str(validation), task_name="sst2_flipped")
    foobar = PromptTemplate(demonstration=template.demonstration, name="foobar",
                            verbalizer=Verbalizer({"negative": ["foo"], "positive": ["bar"]}))
    write_lm_eval_task(work / "unrelated", foobar, str(train), str(validation), task_name="sst2_foobar")
    atomic_write_json(args.output, report)  # each part is kept as soon as it is measured
    for name, config, folder, task in (
            ("flipped labels", FewShotConfig(shots=4, selection="first_n", demo_labels="flipped", progress=False),
             "flipped", "sst2_flipped"),
            ("unrelated labels foo/bar", FewShotConfig(shots=4, selection="first_n", demo_labels="unrelated",
                                                      unrelated_label_words=("foo", "bar"), progress=False),
             "unrelated", "sst2_foobar")):
        start = time.perf_counter()
        ours = FewShotClassifier(model, tokenizer, template, pool, config).predict(evaluation)
        seconds = time.perf_counter() - start
        theirs, their_prompt, their_seconds = lm_eval_run(lm_eval, lm, work / folder, task, 4, n)
        report["comparisons"].append(compare(name, ours.predictions, theirs, evaluation.labels, seconds, their_seconds,
                                             ours.example_prompt, their_prompt))
        atomic_write_json(args.output, report)

    # 3. Min et al.'s grid.
    if not args.skip_grid:
        start, grid = time.perf_counter(), []
        for fraction in (1, 0.75, 0.5, 0.25, 0):
            for seed in range(5):
                config = FewShotConfig(shots=8, seed=seed, correct_fraction=fraction, progress=False)
                result = FewShotClassifier(model, tokenizer, template, pool, config).predict(evaluation)
                grid.append({"correct_fraction": fraction, "seed": seed,
                             "accuracy": sum(p == y for p, y in zip(result.predictions, evaluation.labels)) / n})
        report["min_grid"] = {"runs": 25, "shots": 8, "seconds": round(time.perf_counter() - start, 2), "rows": grid}

    print(format_table(report["comparisons"], ["comparison", "examples", "ours_accuracy", "lm_eval_accuracy",
                                                "differing_predictions", "ours_seconds", "lm_eval_seconds"]))
    print(json.dumps(report["orders"], indent=2))
    if "min_grid" in report:
        print(f"Min et al. grid, 25 runs at 8 shots on {n} sentences: {report['min_grid']['seconds']} s")
    atomic_write_json(args.output, report)
    print(f"written to {args.output}")
    return report


if __name__ == "__main__":
    run_script(main)
