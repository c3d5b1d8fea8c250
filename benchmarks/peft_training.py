#!/usr/bin/env python
"""LoRA vs full fine-tuning, and padding-free packing vs padded batches, on SmolLM2-135M-Instruct.

Each configuration trains through `finetune.train_causal_lm` for the same steps on the same SST-2 examples
(rendered as prompt/completion pairs, loss on the label word) in its own process, so that peak memory is
that configuration's alone. On a CPU: the resident set size sampled every 20 ms while the `Trainer` trains, its
peak and its rise over the size at the start of training (loading the model peaks higher than training does, so
the process's lifetime peak says nothing about training); on a GPU, `torch.cuda.max_memory_allocated`.
Also checks, on one fixed batch, that the packed and the padded batch give the same loss.

    python benchmarks/peft_training.py --data_dir data/sst2     # about 6 minutes on 2 CPU cores

Prints the figures and writes them to benchmarks/results/peft_training.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from transformers import TrainerCallback

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL = "packaged:SmolLM2-135M-Instruct"
CONFIGS = {
    "full_padded": ["--learning_rate", "2e-5"],
    "lora_padded": ["--use_peft", "--learning_rate", "5e-4"],
    # Without LoRA's dropout, which copies the input of every adapted layer: how much of LoRA's memory that is.
    "lora_padded_no_dropout": ["--use_peft", "--learning_rate", "5e-4", "--lora_dropout", "0"],
    "lora_packed": ["--use_peft", "--learning_rate", "5e-4", "--packing"],
    "full_packed": ["--learning_rate", "2e-5", "--packing"],
}


def write_examples(data_dir: Path, directory: Path, count: int) -> Path:
    from finetune_toolkit.adaptation.compare import training_examples
    from prompts.data import FewShotDataArguments, load_fewshot_data
    from prompts.template import load_template
    from finetune_toolkit.core.outputs import atomic_write_jsonl

    template = load_template("sentiment")
    data = FewShotDataArguments(train_file=str(data_dir / "train.jsonl"), validation_file=str(data_dir / "validation.jsonl"),
                                max_train_samples=count)
    pool, _ = load_fewshot_data(data, template, need_pool=True)
    return atomic_write_jsonl(directory / "train.jsonl", training_examples(template, pool))


class RSSSampler(TrainerCallback):
    """A `TrainerCallback` that samples this process's resident set size from the start to the end of training."""

    def __init__(self, interval: float = 0.02):
        import threading

        self.interval, self.start, self.peak = interval, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()

    def _sample(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.rss())
            self.stop.wait(self.interval)

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = self.peak = self.rss()
        self.thread.start()

    def on_train_end(self, args, state, control, **kwargs):
        self.stop.set()
        self.thread.join()


def worker(name: str, train_file: str, output_dir: str, steps: int, batch: int) -> dict:
    """One configuration, in this process: train `steps` steps; return its figures."""
    import torch

    from finetune.adapter_training import PeftArguments
    from finetune.language_modeling import train_causal_lm
    from finetune.lm_data import LMDataArguments
    from finetune.training import FinetuneTrainingArguments
    from finetune_toolkit.core.command_line import parse_args
    from finetune_toolkit.core.models import ModelArguments

    argv = ["--model_name_or_path", MODEL, "--train_file", train_file, "--output_dir", output_dir, "--do_train",
            "--max_steps", str(steps), "--per_device_train_batch_size", str(batch), "--save_strategy", "no",
            "--report_to", "none", "--disable_tqdm", "true", "--print_metrics", "false", "--logging_steps", "1000",
            "--seed", "0", *CONFIGS[name]]
    model_args, data_args, training_args, peft_args = parse_args(
        (ModelArguments, LMDataArguments, FinetuneTrainingArguments, PeftArguments), argv)
    cuda = torch.cuda.is_available() and not training_args.use_cpu
    sampler = RSSSampler()
    metrics = train_causal_lm(model_args, data_args, training_args, peft_args, callbacks=[] if cuda else [sampler])
    figures = {"trainable_parameters": metrics["trainable_parameters"], "total_parameters": metrics["total_parameters"],
               "train_samples_per_second": metrics["train_samples_per_second"], "train_runtime": metrics["train_runtime"]}
    if cuda:
        figures.update(peak_memory_mib=round(torch.cuda.max_memory_allocated() / 2**20, 1), memory_kind="cuda max_memory_allocated")
    else:
        figures.update(peak_memory_mib=round(sampler.peak / 2**20, 1), training_memory_mib=round((sampler.peak - sampler.start) / 2**20, 1),
                       memory_kind="RSS while training (peak, and its rise over the start of training)")
    return figures


def same_loss_check(train_file: Path, count: int = 16) -> dict:
    """Loss of one fixed batch of `count` examples, padded and packed, in one model."""
    import torch
    from transformers import AutoModelForCausalLM

    from finetune.instructions import encode_prompt_completion, example_collator
    from finetune_toolkit.core.models import ModelArguments, load_model, load_tokenizer

    tokenizer = load_tokenizer(ModelArguments(MODEL))
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    model = load_model(AutoModelForCausalLM, ModelArguments(MODEL)).eval()
    rows = [json.loads(line) for line in train_file.read_text().splitlines()[:count]]
    features = [encode_prompt_completion(tokenizer, r["prompt"], r["completion"], True) for r in rows]
    losses = {}
    with torch.no_grad():
        for name, packing in (("padded", False), ("packed", True)):
            batch = example_collator(tokenizer, packing)([dict(f) for f in features])
            losses[name] = model(**batch).loss.item()
            losses[f"{name}_tokens_in_batch"] = int(batch["input_ids"].numel())
    losses["real_tokens"] = sum(len(f["input_ids"]) for f in features)
    losses["abs_difference"] = abs(losses["padded"] - losses["packed"])
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default="data/sst2", help="Folder with SST-2 train.jsonl and validation.jsonl (benchmarks/prepare_sst2.py writes one)")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "peft_training.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--train_file", help=argparse.SUPPRESS)
    parser.add_argument("--output_dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.train_file, args.output_dir, args.steps, args.batch_size)))
        return

    from finetune_toolkit.core.outputs import atomic_write_json

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        train_file = write_examples(Path(args.data_dir), scratch, args.steps * args.batch_size)
        lengths = []
        results = {}
        for name in CONFIGS:
            command = [sys.executable, __file__, "--worker", name, "--train_file", str(train_file), "--output_dir",
                       str(scratch / name), "--steps", str(args.steps), "--batch_size", str(args.batch_size)]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
            results[name] = json.loads(line[len("RESULT "):])
            print(name, results[name], flush=True)
        check = same_loss_check(train_file)
        from finetune_toolkit.core.models import ModelArguments, load_tokenizer

        tokenizer = load_tokenizer(ModelArguments(MODEL))
        rows = [json.loads(x) for x in train_file.read_text().splitlines()]
        lengths = [len(tokenizer(r["prompt"])["input_ids"]) + len(tokenizer(r["completion"], add_special_tokens=False)["input_ids"]) + 1
                   for r in rows]
    mean_tokens = sum(lengths) / len(lengths)
    for figures in results.values():
        figures["real_tokens_per_second"] = figures["train_samples_per_second"] * mean_tokens
    full, lora = results["full_padded"], results["lora_padded"]
    summary = {
        "lora_vs_full": {
            "trainable_parameters": [lora["trainable_parameters"], full["trainable_parameters"]],
            "trainable_fraction": lora["trainable_parameters"] / full["trainable_parameters"],
            "samples_per_second_ratio": lora["train_samples_per_second"] / full["train_samples_per_second"],
            "peak_memory_ratio": lora["peak_memory_mib"] / full["peak_memory_mib"],
            "training_memory_ratio": (lora["training_memory_mib"] / full["training_memory_mib"]) if "training_memory_mib" in lora else None,
        },
        "packed_vs_padded": {
            "lora_tokens_per_second_ratio": results["lora_packed"]["real_tokens_per_second"] / lora["real_tokens_per_second"],
            "full_tokens_per_second_ratio": results["full_packed"]["real_tokens_per_second"] / full["real_tokens_per_second"],
            "fixed_batch_loss": check,
        },
    }
    import torch

    report = {"model": MODEL, "steps": args.steps, "batch_size": args.batch_size, "mean_real_tokens_per_example": mean_tokens,
              "device": torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()}, "
              f"{torch.get_num_threads()} threads)", "configs": results, "summary": summary}
    print(json.dumps(summary, indent=2))
    atomic_write_json(args.output, report)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
