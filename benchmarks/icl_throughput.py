#!/usr/bin/env python
"""Few-shot scoring throughput: shared-prefix KV-cache reuse vs encoding every full prompt, in one run.

    python benchmarks/icl_throughput.py --data_dir data/sst2 [--shots 8] [--max_eval_samples N] \
        [--output benchmarks/results/icl_throughput.json]

The packaged SmolLM2-135M-Instruct, the built-in `sentiment` template, fixed demonstrations (the same
`--shots` examples of train.jsonl, random selection with `--seed`, for every query), all validation
sentences. Both sides use the same model, tokenized prompts, batch size and scorer; only the prefix reuse
differs. Reports examples/s of each, the speedup, whether every prediction is identical, and the largest
difference between the two sides' label log-probabilities.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from prompts.classifier import FewShotClassifier, FewShotConfig
from prompts.data import FewShotDataArguments, load_fewshot_data
from prompts.template import load_template
from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.command_line import format_table, parse_args, run_script
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.outputs import atomic_write_json


@dataclass
class BenchmarkArguments:
    data_dir: str = field(default="data/sst2", metadata={"help": "Directory with train.jsonl and validation.jsonl."})
    model_name_or_path: str = field(default="packaged:SmolLM2-135M-Instruct", metadata={"help": "Causal LM to score with."})
    shots: int = field(default=8, metadata={"help": "Fixed demonstrations per prompt."})
    seed: int = field(default=0, metadata={"help": "Seed choosing the demonstrations."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Score only the first N validation sentences."})
    batch_size: int = field(default=16, metadata={"help": "Prompts per forward pass (both sides)."})
    output: str = field(default="benchmarks/results/icl_throughput.json", metadata={"help": "Where the JSON figures go."})


def timed_predict(model, tokenizer, template, pool, evaluation, args: BenchmarkArguments, reuse_prefix: bool):
    config = FewShotConfig(shots=args.shots, seed=args.seed, selection="random", batch_size=args.batch_size,
                           reuse_prefix=reuse_prefix)
    classifier = FewShotClassifier(model, tokenizer, template, pool, config)
    start = time.perf_counter()
    result = classifier.predict(evaluation)
    return result, time.perf_counter() - start


def main(argv=None) -> dict:
    (args,) = parse_args((BenchmarkArguments,), argv)
    data_dir = Path(args.data_dir)
    if not (data_dir / "validation.jsonl").is_file() or not (data_dir / "train.jsonl").is_file():
        raise UserError(f"{args.data_dir!r} needs train.jsonl and validation.jsonl; pass --data_dir")
    template = load_template("sentiment")
    pool, evaluation = load_fewshot_data(
        FewShotDataArguments(train_file=str(data_dir / "train.jsonl"), validation_file=str(data_dir / "validation.jsonl"),
                             max_eval_samples=args.max_eval_samples), template, need_pool=True)
    model, tokenizer = load_generator(args.model_name_or_path)
    # Warm-up (allocator, kernels) on a few examples, outside the timings.
    warm = type(evaluation)(evaluation.fields[:4], evaluation.labels[:4])
    timed_predict(model, tokenizer, template, pool, warm, args, reuse_prefix=True)

    cached, cached_seconds = timed_predict(model, tokenizer, template, pool, evaluation, args, reuse_prefix=True)
    uncached, uncached_seconds = timed_predict(model, tokenizer, template, pool, evaluation, args, reuse_prefix=False)
    n = len(evaluation)
    differing = [i for i, (a, b) in enumerate(zip(cached.predictions, uncached.predictions)) if a != b]
    max_difference = max(abs(p - q) for a, b in zip(cached.probabilities, uncached.probabilities) for p, q in zip(a, b))
    accuracy = sum(p == y for p, y in zip(cached.predictions, evaluation.labels)) / n
    prompt_tokens = len(tokenizer(cached.example_prompt)["input_ids"])
    figures = {
        "model": args.model_name_or_path, "shots": args.shots, "examples": n, "batch_size": args.batch_size,
        "prompt_tokens_first_example": prompt_tokens,
        "cached_seconds": round(cached_seconds, 2), "uncached_seconds": round(uncached_seconds, 2),
        "cached_examples_per_second": round(n / cached_seconds, 2),
        "uncached_examples_per_second": round(n / uncached_seconds, 2),
        "speedup": round(uncached_seconds / cached_seconds, 2),
        "identical_predictions": not differing, "differing_predictions": len(differing),
        "max_probability_difference": max_difference, "accuracy": round(accuracy, 4),
        "device": str(model.device),
    }
    print("First prompt:\n" + cached.example_prompt + "\n")
    print(format_table([
        {"": "shared-prefix reuse", "seconds": figures["cached_seconds"], "examples/s": figures["cached_examples_per_second"]},
        {"": "every full prompt", "seconds": figures["uncached_seconds"], "examples/s": figures["uncached_examples_per_second"]},
    ], ["", "seconds", "examples/s"]))
    print(f"speedup {figures['speedup']}x; identical predictions: {figures['identical_predictions']} "
          f"({len(differing)} differ); max |Δp| {max_difference:.2e}; accuracy {accuracy:.4f}")
    atomic_write_json(args.output, figures)
    print(f"written to {args.output}")
    return figures


if __name__ == "__main__":
    run_script(main)
