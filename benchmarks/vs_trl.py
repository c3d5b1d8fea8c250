#!/usr/bin/env python
"""Fine-tuning pace side by side with TRL's `SFTTrainer`: the same model, data, adapter, optimizer and steps.

    python benchmarks/vs_trl.py --data_dir data/sst2 --output benchmarks/results/vs_trl.json   # pip install trl

SmolLM2-135M-Instruct (the packaged copy) on SST-2 sentences as prompt/completion pairs (`Review: ...\\nSentiment:`
and the label word; answer-only loss). Both sides get the same token ids (tokenized once by the toolkit; TRL takes
them as a pre-tokenized dataset with a `completion_mask`), the same LoRA adapter built the same way from the same
seed (r 16, alpha 32, no dropout, every linear layer of the body), AdamW at the same learning rate with a linear
schedule, the same batches (the `Trainer`'s sampler, seed 0) and padding-free batches on both sides (the toolkit's
`--packing`; TRL's `padding_free=True`). Each configuration runs in its own process, alternating, `--repeats`
times. Sides:

- `toolkit`: `finetune.train_causal_lm` (the output layer only at labelled positions, each packed batch spread
  over the rows that cost attention least), `--lora_dropout 0` as on the TRL side.
- `toolkit_one_row`: `toolkit` with one packed row per batch (`--split_packed_batches false`), as TRL packs.
- `toolkit_before`: the toolkit as it trained before (`--kept_logits false`, LoRA dropout 0.05, its default, one
  packed row).
- `toolkit_checkpointing`: `toolkit` with `--gradient_checkpointing` (memory for time).
- `trl`: TRL's `SFTTrainer` with `completion_only_loss=True, padding_free=True`.
and, for full fine-tuning, `full_toolkit` and `full_trl`.

Reported per side: real tokens/s (the examples' tokens, no padding, over the `Trainer`'s train_runtime), peak RSS
while training, the loss at every step. The summary (LoRA) holds `speedup` (toolkit / TRL tokens/s, best of the
repeats), `losses_equal` (every step's loss within `--loss_tolerance` relative), `flop_fraction` (toolkit tokens/s
over the machine's limit: its measured float32 GEMM rate / (4 x 135M FLOPs per token), the LoRA count of the issue:
2N forward, 2N backward for the activations, no weight gradients for frozen weights) and `peak_memory_ratio`
(toolkit / TRL). `--profile` adds where one LoRA step's time goes.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
MODEL = "packaged:SmolLM2-135M-Instruct"
PARAMETERS = 134_515_008
COMMON = ["--learning_rate", "5e-4", "--lr_scheduler_type", "linear", "--warmup_steps", "0", "--weight_decay", "0.0",
          "--max_grad_norm", "1.0", "--seed", "0", "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none"]
SIDES = {
    "toolkit": ["--use_peft", "--packing", "--lora_dropout", "0"],
    "toolkit_one_row": ["--use_peft", "--packing", "--lora_dropout", "0", "--split_packed_batches", "false"],
    "toolkit_before": ["--use_peft", "--packing", "--kept_logits", "false", "--lora_dropout", "0.05", "--split_packed_batches", "false"],
    "toolkit_checkpointing": ["--use_peft", "--packing", "--lora_dropout", "0", "--gradient_checkpointing"],
    "trl": ["--use_peft", "--lora_dropout", "0"],
    "full_toolkit": ["--packing", "--learning_rate", "2e-5"],
    "full_trl": ["--learning_rate", "2e-5"],
}


def write_pairs(data_dir: Path | None, directory: Path, count: int) -> Path:
    """`count` SST-2 training sentences (or the shipped reviews) as prompt/completion pairs."""
    from finetune.data import movie_review_files
    from finetune_toolkit.adaptation.compare import training_examples
    from finetune_toolkit.core.outputs import atomic_write_jsonl
    from prompts.data import FewShotDataArguments, load_fewshot_data
    from prompts.template import load_template

    files = movie_review_files() if data_dir is None else {"train": str(data_dir / "train.jsonl"), "test": str(data_dir / "validation.jsonl")}
    data = FewShotDataArguments(train_file=files["train"], validation_file=files["test"], max_train_samples=count)
    pool, _ = load_fewshot_data(data, load_template("sentiment"), need_pool=True)
    return atomic_write_jsonl(directory / "train.jsonl", training_examples(load_template("sentiment"), pool))


def parsed(side: str, train_file: str, output_dir: str, steps: int, batch: int):
    from finetune.adapter_training import PeftArguments
    from finetune.lm_data import LMDataArguments
    from finetune.training import FinetuneTrainingArguments
    from finetune_toolkit.core.command_line import parse_args
    from finetune_toolkit.core.models import ModelArguments

    argv = ["--model_name_or_path", MODEL, "--train_file", train_file, "--output_dir", output_dir, "--do_train",
            "--max_steps", str(steps), "--per_device_train_batch_size", str(batch), "--disable_tqdm", "true",
            "--print_metrics", "false", *COMMON, *SIDES[side]]
    if side.endswith("trl"):
        argv = [a for a in argv if a != "--packing"]
    return parse_args((ModelArguments, LMDataArguments, FinetuneTrainingArguments, PeftArguments), argv)


def worker(side: str, train_file: str, output_dir: str, steps: int, batch: int) -> dict:
    """One side, in this process: train; return tokens, time, peak memory and the loss at every step."""
    from peft_training import RSSSampler

    model_args, data_args, training_args, peft_args = parsed(side, train_file, output_dir, steps, batch)
    sampler = RSSSampler()
    if side.endswith("trl"):
        history, runtime = train_with_trl(model_args, data_args, training_args, peft_args, sampler)
    else:
        from finetune.language_modeling import train_causal_lm

        metrics = train_causal_lm(model_args, data_args, training_args, peft_args, callbacks=[sampler])
        state = json.loads((Path(output_dir) / "trainer_state.json").read_text())
        history, runtime = state["log_history"], metrics["train_runtime"]
    return {"losses": [entry["loss"] for entry in history if "loss" in entry], "train_runtime": runtime,
            "peak_memory_mib": round(sampler.peak / 2**20, 1), "training_memory_mib": round((sampler.peak - sampler.start) / 2**20, 1)}


def train_with_trl(model_args, data_args, training_args, peft_args, sampler) -> tuple[list[dict], float]:
    """TRL's SFTTrainer on the toolkit's token ids, with the model and adapter built as the toolkit builds them."""
    import datasets
    from transformers import AutoModelForCausalLM, set_seed
    from trl import SFTConfig, SFTTrainer

    from finetune.adapter_training import add_adapter
    from finetune.instructions import tokenize_instructions
    from finetune.lm_data import instruction_columns, load_text_splits
    from finetune_toolkit.core.model_names import resolve_model_name
    from finetune_toolkit.core.models import ensure_pad_token, load_model, load_tokenizer

    set_seed(training_args.seed)  # as the toolkit's start_run, before the model and adapter are made
    splits = load_text_splits(data_args, ("train",), seed=training_args.seed)
    tokenizer = load_tokenizer(model_args)
    model = load_model(AutoModelForCausalLM, model_args)
    ensure_pad_token(model, tokenizer)
    tokens = tokenize_instructions(splits, tokenizer, "prompt_completion", instruction_columns(data_args, "prompt_completion"),
                                   2048, True)["train"]
    train = datasets.Dataset.from_dict({"input_ids": tokens["input_ids"],
                                        "completion_mask": [[int(label != -100) for label in row] for row in tokens["labels"]]})
    if peft_args.use_peft:
        model = add_adapter(model, peft_args, "CAUSAL_LM", resolve_model_name(model_args.model_name_or_path))
    config = SFTConfig(output_dir=training_args.output_dir, max_steps=training_args.max_steps,
                       per_device_train_batch_size=training_args.per_device_train_batch_size,
                       learning_rate=training_args.learning_rate, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0,
                       max_grad_norm=1.0, seed=training_args.seed, logging_steps=1, save_strategy="no", report_to="none",
                       disable_tqdm=True, padding_free=True, packing=False, completion_only_loss=True, max_length=None,
                       use_cpu=training_args.use_cpu, bf16=False,
                       # TRL turns activation checkpointing on by default; the toolkit does not (its cost is the
                       # toolkit_checkpointing side): off here, so that both sides do the same work
                       gradient_checkpointing=False)
    trainer = SFTTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer, callbacks=[sampler])
    output = trainer.train()
    return trainer.state.log_history, output.metrics["train_runtime"]


def gemm_rate(seconds: float = 3.0) -> float:
    """This machine's float32 matrix-multiply rate (FLOP/s) at the model's shapes: 512 tokens x 576 x 1536."""
    import torch

    a, b = torch.randn(512, 576), torch.randn(576, 1536)
    for _ in range(20):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return count * 2 * 512 * 576 * 1536 / (time.perf_counter() - start)


def run_side(side: str, train_file: Path, scratch: Path, args) -> dict:
    command = [sys.executable, __file__, "--worker", side, "--train_file", str(train_file), "--output_dir",
               str(scratch / f"{side}-{time.monotonic_ns()}"), "--steps", str(args.steps), "--batch_size", str(args.batch_size)]
    result = worker_result(command)
    if "error" in result:
        sys.exit(f"{side} failed:\n{result['error']}")
    return result


def worker_result(command: list[str]) -> dict:
    """Run a worker process; what it printed after `RESULT `, or {"error": the end of its stderr}."""
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    return json.loads(line[len("RESULT "):]) if line else {"error": done.stderr[-3000:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None, help="SST-2 folder (train.jsonl); default: the shipped reviews")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sides", nargs="*", default=list(SIDES))
    parser.add_argument("--loss_tolerance", type=float, default=1e-3)
    parser.add_argument("--profile", action="store_true", help="also profile one LoRA step of the toolkit")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "vs_trl.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--train_file", help=argparse.SUPPRESS)
    parser.add_argument("--output_dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.train_file, args.output_dir, args.steps, args.batch_size)))
        return
    import torch

    from finetune_toolkit.core.models import ModelArguments, load_tokenizer
    from finetune_toolkit.core.outputs import atomic_write_json

    runs: dict[str, list[dict]] = {side: [] for side in args.sides}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        train_file = write_pairs(Path(args.data_dir) if args.data_dir else None, scratch, args.examples)
        tokenizer = load_tokenizer(ModelArguments(MODEL))
        rows = [json.loads(x) for x in train_file.read_text().splitlines()]
        mean_tokens = statistics.fmean(len(tokenizer(r["prompt"] + r["completion"])["input_ids"]) + 1 for r in rows)
        for repeat in range(args.repeats):
            for side in args.sides:
                result = run_side(side, train_file, scratch, args)
                result["real_tokens_per_second"] = args.steps * args.batch_size * mean_tokens / result["train_runtime"]
                runs[side].append(result)
                print(f"[{repeat + 1}/{args.repeats}] {side}: {result['real_tokens_per_second']:.1f} tokens/s, "
                      f"peak {result['peak_memory_mib']:.0f} MiB", flush=True)
        profile = profile_step(train_file, scratch, args) if args.profile else None
    rate = gemm_rate()
    limit = rate / (4 * PARAMETERS)
    sides = {}
    for side, results in runs.items():
        rates = [r["real_tokens_per_second"] for r in results]
        sides[side] = {"best_tokens_per_second": max(rates), "median_tokens_per_second": statistics.median(rates),
                       "peak_memory_mib": min(r["peak_memory_mib"] for r in results),
                       "training_memory_mib": min(r["training_memory_mib"] for r in results),
                       "losses": results[0]["losses"], "runs": results}
    report = {"model": MODEL, "examples": args.examples, "steps": args.steps, "batch_size": args.batch_size,
              "repeats": args.repeats, "mean_real_tokens_per_example": mean_tokens,
              "device": f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)", "gemm_flops_per_second": rate,
              "flops_per_token": 4 * PARAMETERS, "token_limit_per_second": limit, "sides": sides}
    report.update(summary(sides, args.loss_tolerance, limit))
    if profile:
        report["profile"] = profile
    print(json.dumps({k: v for k, v in report.items() if k != "sides"}, indent=2))
    for side, figures in sides.items():
        print(f"{side:24s} best {figures['best_tokens_per_second']:7.1f}  median {figures['median_tokens_per_second']:7.1f} "
              f"tokens/s  peak {figures['peak_memory_mib']:7.0f} MiB")
    atomic_write_json(args.output, report)
    print(f"written to {args.output}")


def summary(sides: dict, tolerance: float, limit: float) -> dict:
    """The LoRA keys the issue asks for, and the others' ratios."""
    out = {}
    if "toolkit" in sides and "trl" in sides:
        ours, trl = sides["toolkit"], sides["trl"]
        pairs = list(zip(ours["losses"], trl["losses"]))
        out.update(speedup=ours["best_tokens_per_second"] / trl["best_tokens_per_second"],
                   speedup_median=ours["median_tokens_per_second"] / trl["median_tokens_per_second"],
                   losses_equal=len(ours["losses"]) == len(trl["losses"]) and all(abs(a - b) <= tolerance * abs(b) for a, b in pairs),
                   largest_loss_difference=max(abs(a - b) / abs(b) for a, b in pairs) if pairs else None,
                   peak_memory_ratio=ours["peak_memory_mib"] / trl["peak_memory_mib"])
    if "toolkit" in sides:
        out["flop_fraction"] = sides["toolkit"]["best_tokens_per_second"] / limit
    if "toolkit_one_row" in sides and "toolkit" in sides:
        out["speedup_vs_one_row"] = sides["toolkit"]["best_tokens_per_second"] / sides["toolkit_one_row"]["best_tokens_per_second"]
    if "toolkit_before" in sides and "toolkit" in sides:
        out["speedup_vs_before"] = sides["toolkit"]["best_tokens_per_second"] / sides["toolkit_before"]["best_tokens_per_second"]
    if "toolkit_checkpointing" in sides and "toolkit" in sides:
        out["checkpointing_speed_ratio"] = sides["toolkit_checkpointing"]["best_tokens_per_second"] / sides["toolkit"]["best_tokens_per_second"]
        out["checkpointing_memory_ratio"] = sides["toolkit_checkpointing"]["training_memory_mib"] / sides["toolkit"]["training_memory_mib"]
    if "full_toolkit" in sides and "full_trl" in sides:
        out["full_speedup"] = sides["full_toolkit"]["best_tokens_per_second"] / sides["full_trl"]["best_tokens_per_second"]
        out["full_peak_memory_ratio"] = sides["full_toolkit"]["peak_memory_mib"] / sides["full_trl"]["peak_memory_mib"]
        pairs = list(zip(sides["full_toolkit"]["losses"], sides["full_trl"]["losses"]))
        out["full_losses_equal"] = bool(pairs) and all(abs(a - b) <= tolerance * abs(b) for a, b in pairs)
    return out


def profile_step(train_file: Path, scratch: Path, args) -> dict:
    """Where the time of LoRA steps goes, by kind of operation (torch.profiler over 4 steps after 2 of warm-up)."""
    command = [sys.executable, str(ROOT / "benchmarks" / "lora_step_profile.py"), "--train_file", str(train_file),
               "--output_dir", str(scratch / "profile"), "--batch_size", str(args.batch_size)]
    return worker_result(command)


if __name__ == "__main__":
    main()
