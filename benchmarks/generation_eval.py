#!/usr/bin/env python
"""Predict-with-generate and its scores vs the obvious user loop: `pipeline("text-generation")` one prompt at a time,
then the reference scorers (`rouge-score`, `sacrebleu`) called directly.

    python benchmarks/generation_eval.py [--model_name_or_path packaged:SmolLM2-135M-Instruct] [--num_prompts 200] \
        [--max_new_tokens 16] [--output benchmarks/results/generation_eval.json]

The prompts are the shipped movie reviews as prompt/completion pairs ("Review: ...\\nSentiment:" -> " positive"), the
same model object on both sides, greedy decoding, answers cut at the first newline. Ours is the code path of
`finetune-toolkit lm --do_predict` (`finetune.lm_predict.generate_and_score`: batched, sorted by length, KV cache).
Both the predictions and the scores are compared; the speedup is the ratio of wall-clock seconds.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from finetune.data import movie_review_files
from finetune.lm_predict import Pairs, generate_and_score
from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.command_line import format_table, parse_args, run_script
from finetune_toolkit.core.generation import DecodingArguments, cut_at_stop
from finetune_toolkit.core.outputs import atomic_write_json


@dataclass
class BenchmarkArguments:
    model_name_or_path: str = field(default="packaged:SmolLM2-135M-Instruct", metadata={"help": "Causal LM to run."})
    num_prompts: int = field(default=200, metadata={"help": "Prompts (at most 440, the shipped reviews)."})
    max_new_tokens: int = field(default=16, metadata={"help": "New tokens per answer at most."})
    output: str = field(default="benchmarks/results/generation_eval.json", metadata={"help": "JSON output path."})


def review_pairs(count: int) -> Pairs:
    files = movie_review_files()
    rows = [json.loads(line) for split in ("train", "test") for line in Path(files[split]).read_text().splitlines()]
    rows = rows[:count]
    return Pairs([f"Review: {row['text']}\nSentiment:" for row in rows], [" positive" if row["label"] else " negative" for row in rows])


def user_loop(model, tokenizer, pairs: Pairs, max_new_tokens: int) -> tuple[list[str], dict[str, float]]:
    """What a user writes: the pipeline one prompt at a time, then rouge-score and sacrebleu."""
    import sacrebleu
    from rouge_score import rouge_scorer
    from transformers import pipeline

    generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
    decoding = {"max_new_tokens": max_new_tokens, "max_length": None, "do_sample": False, "temperature": None, "top_p": None,
                "top_k": None, "return_full_text": False}
    answers = [cut_at_stop(generator(prompt, **decoding)[0]["generated_text"], ["\n"]) for prompt in pairs.prompts]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    per_example = [scorer.score(reference, answer) for answer, reference in zip(answers, pairs.references)]
    scores = {name: 100 * sum(s[name].fmeasure for s in per_example) / len(per_example) for name in ("rouge1", "rouge2", "rougeL", "rougeLsum")}
    scores["bleu"] = sacrebleu.corpus_bleu(answers, [pairs.references]).score
    scores["chrf"] = sacrebleu.corpus_chrf(answers, [pairs.references]).score
    return answers, scores


def main(argv=None) -> dict:
    (args,) = parse_args((BenchmarkArguments,), argv)
    pairs = review_pairs(args.num_prompts)
    model, tokenizer = load_generator(args.model_name_or_path)
    decoding = DecodingArguments(max_new_tokens=args.max_new_tokens, stop=["\n"])
    generate_and_score(model, tokenizer, Pairs(pairs.prompts[:2], pairs.references[:2]), decoding)  # warm-up, shared model

    started = time.perf_counter()
    theirs, their_scores = user_loop(model, tokenizer, pairs, args.max_new_tokens)
    pipeline_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ours, our_scores = generate_and_score(model, tokenizer, pairs, decoding)
    ours_seconds = time.perf_counter() - started

    differing = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    score_gaps = {name: abs(our_scores[name] - their_scores[name]) for name in their_scores}
    figures = {"ours_seconds": ours_seconds, "pipeline_seconds": pipeline_seconds, "speedup": pipeline_seconds / ours_seconds,
               "ours_prompts_per_second": len(ours) / ours_seconds, "pipeline_prompts_per_second": len(theirs) / pipeline_seconds,
               "identical_predictions": not differing, "differing_prompts": differing, "largest_score_difference": max(score_gaps.values()),
               "our_scores": our_scores, "pipeline_scores": their_scores, "device": str(model.device), "settings": asdict(args)}
    rows = [{"method": "predict with generate (batched) + shipped scorer", "seconds": ours_seconds, "prompts/s": figures["ours_prompts_per_second"],
             "rougeL": our_scores["rougeL"], "bleu": our_scores["bleu"]},
            {"method": "pipeline() one at a time + rouge-score/sacrebleu", "seconds": pipeline_seconds,
             "prompts/s": figures["pipeline_prompts_per_second"], "rougeL": their_scores["rougeL"], "bleu": their_scores["bleu"]}]
    print(format_table(rows, list(rows[0])))
    print(f"speedup: {figures['speedup']:.2f}x; identical predictions: {figures['identical_predictions']}"
          + (f" ({len(differing)} differ)" if differing else "") + f"; largest score difference {figures['largest_score_difference']:.2g}")
    atomic_write_json(args.output, figures)
    print(f"Wrote {args.output}", file=sys.stderr)
    return figures


if __name__ == "__main__":
    run_script(main)
