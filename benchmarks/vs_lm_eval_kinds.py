#!/usr/bin/env python
"""This project vs lm-evaluation-harness on multiple choice and generated answers, side by side in one run.

    pip install -e .[bench]      # lm-eval with its Transformers backend
    python benchmarks/vs_lm_eval_kinds.py [--shots 0 4 8] [--tasks antonyms arithmetic] \
        [--output benchmarks/results/vs_lm_eval_kinds.json]

The tasks are the package's example tasks (`prompts.example_tasks`): `antonyms`, multiple choice with four options
per question, and `arithmetic`, two-digit additions answered by greedy generation until a newline. Each template is
exported as an lm-eval task that reads the same local files (`prompts.lm_eval_task`); both tools get the same model
object (the packaged SmolLM2-135M-Instruct, float32, CPU unless a GPU is present) and the same demonstrations (the
first k train rows: lm-eval's `first_n` sampler, our `--selection first_n`). Checked, per shot count:

- multiple choice: the same prompt, identical predictions, `accuracy`/`accuracy_norm` equal to lm-eval's
  `acc`/`acc_norm`, and the largest difference between the two tools' per-option log-likelihoods;
- generation: the same prompt, identical generated text, and equal `exact_match` (lm-eval's after its
  `remove_whitespace` filter).

Examples per second are wall time over the evaluated examples, model loading excluded; lm-eval runs with the batch
size that is fastest for it here (`--lm_eval_batch_size` fixes it).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from vs_lm_eval import _lm_eval

from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.command_line import format_table, parse_args, run_script
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.outputs import atomic_write_json
from prompts import LabelledExamples, load_template
from prompts.data import FewShotDataArguments, load_fewshot_data
from prompts.example_tasks import example_dir
from prompts.fewshot_metrics import answer_scores, multiple_choice_scores
from prompts.lm_eval_task import write_lm_eval_task
from prompts.run_kinds import RUNS
from prompts.run_types import FewShotConfig


@dataclass
class BenchmarkArguments:
    model_name_or_path: str = field(default="packaged:SmolLM2-135M-Instruct", metadata={"help": "Causal LM for both tools."})
    tasks: list[str] = field(default_factory=lambda: ["antonyms", "arithmetic"], metadata={"help": "Example tasks.", "nargs": "+"})
    shots: list[int] = field(default_factory=lambda: [0, 4, 8], metadata={"help": "Shot counts to compare.", "nargs": "+"})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Only the first N validation rows."})
    batch_size: int = field(default=16, metadata={"help": "This project's batch size."})
    lm_eval_batch_size: int | None = field(default=None, metadata={"help": "lm-eval's batch size (default: the fastest of 8, 16, 32)."})
    output: str = field(default="benchmarks/results/vs_lm_eval_kinds.json", metadata={"help": "Where the JSON figures go."})


def run_lm_eval(lm_eval, lm, manager, task: str, shots: int, limit: int | None) -> tuple[list[dict], dict, float]:
    """lm-eval's samples (in document order), its metrics and its wall seconds."""
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(model=lm, tasks=[task], num_fewshot=shots, limit=limit, log_samples=True,
                                  task_manager=manager, bootstrap_iters=0)
    seconds = time.perf_counter() - start
    return sorted(out["samples"][task], key=lambda s: s["doc_id"]), out["results"][task], seconds


def ours(model, tokenizer, template, pool, evaluation, shots: int, batch_size: int):
    """This project's run of one shot count: per-example outputs, scores, example prompt and wall seconds."""
    config = FewShotConfig(shots=shots, selection="first_n", batch_size=batch_size, progress=False)
    start = time.perf_counter()
    _, predictions, prompt = RUNS[template.kind](model, tokenizer, template, pool, evaluation, config)
    return predictions, prompt, time.perf_counter() - start


def compare(kind: str, our_rows: list[dict], samples: list[dict], their_metrics: dict, evaluation, tokenizer) -> dict:
    """The agreement figures of one task and shot count."""
    if kind == "multiple_choice":
        their_ll = [[resp[0] for resp in s["filtered_resps"]] for s in samples]
        our_ll = [row["option_log_probs"] for row in our_rows]
        our_scores = multiple_choice_scores(our_ll, [row["options"] for row in our_rows], evaluation.labels)
        their_predictions = [max(range(len(ll)), key=ll.__getitem__) for ll in their_ll]
        return {"ours_accuracy": round(our_scores["accuracy"], 4), "lm_eval_acc": round(their_metrics["acc,none"], 4),
                "ours_accuracy_norm": round(our_scores["accuracy_norm"], 4), "lm_eval_acc_norm": round(their_metrics["acc_norm,none"], 4),
                "differing_predictions": sum(row["prediction"] != p for row, p in zip(our_rows, their_predictions)),
                "max_log_likelihood_difference": max(abs(a - b) for ours_, theirs in zip(our_ll, their_ll) for a, b in zip(ours_, theirs))}
    their_answers = [s["resps"][0][0] for s in samples]
    our_answers = [row["prediction"] for row in our_rows]
    our_scores = answer_scores(our_answers, evaluation.labels, tokenizer)
    return {"ours_exact_match": round(our_scores["exact_match"], 4),
            "lm_eval_exact_match": round(their_metrics["exact_match,remove_whitespace"], 4),
            "differing_answers": sum(a != b for a, b in zip(our_answers, their_answers)),
            "differing_examples": [i for i, (a, b) in enumerate(zip(our_answers, their_answers)) if a != b][:10]}


def fastest_batch_size(lm_eval, HFLM, model, tokenizer, manager, task, limit, candidates=(8, 16, 32)) -> int:
    timings = {}
    for size in candidates:
        timings[size] = run_lm_eval(lm_eval, HFLM(pretrained=model, tokenizer=tokenizer, batch_size=size), manager, task, 4, limit)[2]
    print(f"lm-eval batch size probe ({task}, 4-shot): " + ", ".join(f"{b}: {t:.1f} s" for b, t in timings.items()))
    return min(timings, key=timings.get)


def main(argv=None) -> list[dict]:
    (args,) = parse_args((BenchmarkArguments,), argv)
    lm_eval, HFLM, TaskManager = _lm_eval()
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    model, tokenizer = load_generator(args.model_name_or_path)
    task_dir = Path(tempfile.mkdtemp(prefix="lm-eval-tasks-"))
    records = []
    for name in args.tasks:
        template = load_template(name)
        files = {split: str(example_dir(name) / f"{split}.jsonl") for split in ("train", "validation")}
        pool, evaluation = load_fewshot_data(FewShotDataArguments(train_file=files["train"], validation_file=files["validation"],
                                                                  max_eval_samples=args.max_eval_samples), template, need_pool=True)
        task = f"finetune_toolkit_{name}"
        write_lm_eval_task(task_dir, template, files["train"], files["validation"], task_name=task)
        manager = TaskManager(include_path=str(task_dir), include_defaults=False)
        ours(model, tokenizer, template, pool, LabelledExamples(evaluation.fields[:4], evaluation.labels[:4]), 1, args.batch_size)  # warm-up
        lm_eval_batch = args.lm_eval_batch_size or fastest_batch_size(lm_eval, HFLM, model, tokenizer, manager, task, 16)
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=lm_eval_batch)
        for shots in args.shots:
            our_rows, our_prompt, our_seconds = ours(model, tokenizer, template, pool, evaluation, shots, args.batch_size)
            samples, their_metrics, their_seconds = run_lm_eval(lm_eval, lm, manager, task, shots, args.max_eval_samples)
            their_prompt = samples[0]["arguments"][0][0]
            if our_prompt != their_prompt:
                raise UserError(f"the {shots}-shot {name} prompts differ between the tools:\n{our_prompt!r}\n{their_prompt!r}")
            n = len(evaluation)
            records.append({
                "task": name, "type": template.kind, "shots": shots, "examples": n,
                **compare(template.kind, our_rows, samples, their_metrics, evaluation, tokenizer),
                "ours_seconds": round(our_seconds, 2), "lm_eval_seconds": round(their_seconds, 2),
                "ours_examples_per_second": round(n / our_seconds, 2), "lm_eval_examples_per_second": round(n / their_seconds, 2),
                "speedup": round(their_seconds / our_seconds, 2), "lm_eval_batch_size": lm_eval_batch,
                "ours_batch_size": args.batch_size, "device": str(model.device), "lm_eval_version": lm_eval.__version__,
            })
            print(format_table([records[-1]], [k for k in records[-1] if k not in ("differing_examples", "lm_eval_version")]))
            atomic_write_json(args.output, records)
    print(f"written to {args.output}")
    return records


if __name__ == "__main__":
    run_script(main)
