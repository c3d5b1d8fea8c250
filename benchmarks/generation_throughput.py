#!/usr/bin/env python
"""New tokens/s: this project's batched `generate` vs `pipeline("text-generation")` one prompt at a time.

    python benchmarks/generation_throughput.py [--model_name_or_path packaged:SmolLM2-135M-Instruct] \
        [--num_prompts 32] [--max_new_tokens 64] [--output benchmarks/results/generation_throughput.json]

Same model object, greedy decoding, the same prompts and max_new_tokens on both sides; checks that the
generated texts are identical. Tokens are counted by re-tokenizing each generated text.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field

from finetune_toolkit.core.generation import GenerationArguments, generate
from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.command_line import format_table, parse_args, run_script
from finetune_toolkit.core.outputs import atomic_write_json

PROMPTS = [
    "The best way to learn a new language is",
    "Once upon a time, in a small village by the sea,",
    "The three primary colors are",
    "To make a cup of tea, first",
    "The main difference between a virus and a bacterium is",
    "In the morning the market was already crowded with",
    "Photosynthesis is the process by which",
    "My favourite thing about autumn is",
    "The history of the bicycle begins",
    "A good night's sleep helps",
    "The old lighthouse keeper looked out at the storm and",
    "Water boils at 100 degrees Celsius because",
    "The recipe for a simple tomato soup is",
    "When the train finally arrived,",
    "Honey bees communicate with each other by",
    "The most important rule of writing clear code is",
    "The city of Rome was founded",
    "She opened the letter and read the first line:",
    "A rainbow appears when",
    "The moon affects the tides on Earth by",
    "He had never seen so many stars as",
    "Exercise is good for the heart because",
    "The library was quiet except for",
    "Volcanoes form when",
    "The robot looked at its hands and wondered",
    "A balanced breakfast usually includes",
    "The invention of the printing press changed",
    "Deep in the forest there was a path that",
    "Cats like to sleep in warm places because",
    "The capital of Japan is",
    "Before a long hike you should always",
    "The orchestra began to play, and",
]


@dataclass
class BenchmarkArguments:
    model_name_or_path: str = field(default="packaged:SmolLM2-135M-Instruct", metadata={"help": "Causal LM to run."})
    num_prompts: int = field(default=32, metadata={"help": "How many of the built-in prompts (at most 32)."})
    max_new_tokens: int = field(default=64, metadata={"help": "New tokens per prompt."})
    batch_size: int = field(default=32, metadata={"help": "Our batch size."})
    output: str = field(default="benchmarks/results/generation_throughput.json", metadata={"help": "JSON output path."})


def main(argv=None) -> dict:
    (args,) = parse_args((BenchmarkArguments,), argv)
    prompts = PROMPTS[: args.num_prompts]
    model, tokenizer = load_generator(args.model_name_or_path)

    from transformers import pipeline

    generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
    # max_length=None: older Transformers pipelines also set max_length=20 and warned on every call that both were set.
    decoding = {"max_new_tokens": args.max_new_tokens, "max_length": None, "do_sample": False, "temperature": None,
                "top_p": None, "top_k": None}
    generator(prompts[0], **decoding, return_full_text=False)  # warm-up, both sides share the model
    started = time.perf_counter()
    theirs = [generator(p, **decoding, return_full_text=False)[0]["generated_text"] for p in prompts]
    pipeline_seconds = time.perf_counter() - started

    started = time.perf_counter()
    ours = [texts[0] for texts in generate(model, tokenizer, prompts, GenerationArguments(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size))]
    ours_seconds = time.perf_counter() - started

    def count(texts):
        return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)

    differing = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    figures = {
        "ours_tokens_per_second": count(ours) / ours_seconds,
        "pipeline_tokens_per_second": count(theirs) / pipeline_seconds,
        "ours_seconds": ours_seconds,
        "pipeline_seconds": pipeline_seconds,
        "identical_outputs": not differing,
        "differing_prompts": differing,
        "device": str(model.device),
        "settings": asdict(args),
    }
    figures["speedup"] = figures["ours_tokens_per_second"] / figures["pipeline_tokens_per_second"]
    rows = [
        {"method": f"generate(), batches of {args.batch_size}", "seconds": ours_seconds, "new tokens/s": figures["ours_tokens_per_second"]},
        {"method": "pipeline(), one prompt at a time", "seconds": pipeline_seconds, "new tokens/s": figures["pipeline_tokens_per_second"]},
    ]
    print(format_table(rows, list(rows[0])))
    print(f"speedup: {figures['speedup']:.2f}x; identical outputs: {figures['identical_outputs']}"
          + (f" (prompts {differing} differ)" if differing else ""))
    for i in differing[:3]:
        print(f"  prompt {i}: ours={ours[i]!r}\n            pipeline={theirs[i]!r}")
    atomic_write_json(args.output, figures)
    print(f"Wrote {args.output}", file=sys.stderr)
    return figures


if __name__ == "__main__":
    run_script(main)
