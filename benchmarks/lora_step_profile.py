#!/usr/bin/env python
"""Where one LoRA training step's time goes: data, forward, backward, optimizer, and inside forward and backward the
matrix multiplies against everything else (torch.profiler, self CPU time per operator).

    python benchmarks/lora_step_profile.py --train_file pairs.jsonl    (benchmarks/vs_trl.py --profile runs it)

The step is the toolkit's: SmolLM2-135M-Instruct with its default LoRA adapter at dropout 0 (as the `toolkit` side
of `benchmarks/vs_trl.py`), a padding-free batch of `--batch_size` prompt/completion pairs in the rows that cost
attention least (`finetune.packed_rows`), the output layer at labelled positions only (`finetune.kept_logits`),
AdamW. Two steps of warm-up, then `--steps` profiled. Prints `RESULT {json}`: milliseconds per step by phase and by
kind of operator.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MATMUL = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
ATTENTION = ("aten::_scaled_dot_product", "aten::_flash_attention")


def kind_of(name: str) -> str:
    if name in MATMUL:
        return "matmul"
    if name.startswith(ATTENTION):
        return "attention"
    return "other (elementwise, copies, softmax, ...)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train_file", required=True)
    parser.add_argument("--output_dir", default="/tmp/lora_step_profile")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    import datasets
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function
    from transformers import AutoModelForCausalLM, set_seed

    from finetune.adapter_training import PeftArguments, add_adapter
    from finetune.instructions import example_collator, tokenize_instructions
    from finetune.kept_logits import KeptLogits
    from finetune.packed_rows import attention_break_even
    from finetune_toolkit.core.model_names import resolve_model_name
    from finetune_toolkit.core.models import ModelArguments, ensure_pad_token, load_model, load_tokenizer

    set_seed(0)
    model_args = ModelArguments("packaged:SmolLM2-135M-Instruct")
    tokenizer = load_tokenizer(model_args)
    model = load_model(AutoModelForCausalLM, model_args)
    ensure_pad_token(model, tokenizer)
    splits = datasets.DatasetDict({"train": datasets.load_dataset("json", data_files=args.train_file, split="train")})
    tokens = tokenize_instructions(splits, tokenizer, "prompt_completion", {"prompt": "prompt", "completion": "completion"}, 2048, True)["train"]
    model = add_adapter(model, PeftArguments(use_peft=True, lora_dropout=0.0), "CAUSAL_LM", resolve_model_name(model_args.model_name_or_path))
    model.train()
    kept = KeptLogits(model)
    collate = example_collator(tokenizer, packing=True, break_even=attention_break_even(model))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-4)
    rows = [dict(row) for row in tokens]

    def step(index: int) -> None:
        with record_function("phase: data"):
            batch = collate(rows[index * args.batch_size : (index + 1) * args.batch_size])
            labels = batch.pop("labels")
        with record_function("phase: forward"), kept.keeping(labels):
            loss = kept(model(**batch), labels)
        with record_function("phase: backward"):
            loss.backward()
        with record_function("phase: optimizer"):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    for index in range(2):
        step(index)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for index in range(2, 2 + args.steps):
            step(index)
    wall = (time.perf_counter() - start) / args.steps
    phases, kinds = {}, {}
    for event in prof.key_averages():
        if event.key.startswith("phase: "):
            phases[event.key[len("phase: "):]] = event.cpu_time_total / 1000 / args.steps
        elif not event.key.startswith(("ProfilerStep", "Optimizer.")):
            kind = kind_of(event.key)
            kinds[kind] = kinds.get(kind, 0.0) + event.self_cpu_time_total / 1000 / args.steps
    top = sorted(((e.key, e.self_cpu_time_total / 1000 / args.steps) for e in prof.key_averages()
                  if not e.key.startswith(("phase: ", "ProfilerStep"))), key=lambda item: -item[1])[:10]
    print("RESULT " + json.dumps({"ms_per_step_wall": wall * 1000, "phases_ms": phases, "operator_kinds_ms": kinds,
                                  "top_operators_ms": top, "steps": args.steps, "batch_size": args.batch_size}))


if __name__ == "__main__":
    main()
