#!/usr/bin/env python
"""The toolkit's own overhead: scoring, training and generation loops with a model that costs nearly nothing.

    python benchmarks/toolkit_overhead.py [--compare_ref b11c25d] [--output benchmarks/results/toolkit_overhead.json]

A GPT-2 and a DistilBERT of 2 layers and 64 dimensions, built from configs with a BPE tokenizer trained on
the shipped movie reviews (nothing downloaded). Their forward passes take microseconds, so examples/s
measures what the toolkit does around the model: building prompts and batches, host-to-device copies,
synchronisation, Python bookkeeping. No GPU needed; on a GPU the same loops show the launch overhead.
Besides examples/s, scoring and generation report their overhead: milliseconds per 1,000 examples (or new
tokens) spent outside the model's forward calls (timed by hooks on the model).

- scoring: `FewShotClassifier.predict`, 4 fixed demonstrations (one shared prefix) and 0-shot, 960 queries;
  with the default batch size and with 16 prompts a batch;
- training: `train_classifier`, 2 epochs over the 320 training reviews, 16 a batch;
- generation: `generate`, 64 prompts x 32 new tokens, greedy.

With `--compare_ref REF` the same loops also run on the code of git revision REF (checked out in a temporary
worktree, run in a subprocess), side by side in this run, and the ratios now / REF are printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class BenchmarkArguments:
    compare_ref: str | None = field(default=None, metadata={"help": "Also run the loops on this git revision and print ratios."})
    repeats: int = field(default=3, metadata={"help": "Timed repetitions of each loop; the best is reported."})
    output: str = field(default="benchmarks/results/toolkit_overhead.json", metadata={"help": "Where the JSON figures go."})
    raw: bool = field(default=False, metadata={"help": "Internal: print this code's figures as one JSON line and exit."})


def build_tiny_models(directory: Path, texts: list[str]) -> tuple[str, str]:
    """A 2-layer, 64-dim GPT-2 and DistilBERT classifier sharing one BPE tokenizer trained on `texts`."""
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, GPT2Config, GPT2LMHeadModel

    from finetune.scratch import train_byte_level_bpe

    tokenizer = train_byte_level_bpe(texts, vocab_size=600, model_max_length=256)
    import torch

    torch.manual_seed(0)
    gpt2 = directory / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=64, n_layer=2, n_head=2,
                               bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)).save_pretrained(gpt2)
    tokenizer.save_pretrained(gpt2)
    encoder = directory / "distilbert"
    config = DistilBertConfig(vocab_size=len(tokenizer), dim=64, hidden_dim=128, n_layers=2, n_heads=2,
                              max_position_embeddings=256, pad_token_id=tokenizer.eos_token_id)
    DistilBertForSequenceClassification(config).save_pretrained(encoder)
    tokenizer.save_pretrained(encoder)
    return str(gpt2), str(encoder)


class ModelClock:
    """Seconds spent inside a model's forward calls (hooks on the top-level module), the rest being overhead."""

    def __init__(self, model):
        import torch

        self.seconds, self._start, self._sync = 0.0, None, torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
        model.register_forward_pre_hook(self._enter)
        model.register_forward_hook(self._leave)

    def _enter(self, *_):
        self._sync()
        self._start = time.perf_counter()

    def _leave(self, *_):
        self._sync()
        self.seconds += time.perf_counter() - self._start


def best_of(repeats: int, work, clock: ModelClock | None = None) -> tuple[float, float]:
    """(wall seconds, seconds outside the model) of the fastest of `repeats` calls, after one warm-up call."""
    work()
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        inside = clock.seconds if clock else 0.0
        start = time.perf_counter()
        work()
        wall = time.perf_counter() - start
        outside = wall - ((clock.seconds - inside) if clock else 0.0)
        best = min(best, (wall, outside))
    return best


def measure(repeats: int) -> dict:
    """Examples/s (or tokens/s) of each loop on the code importable now."""
    import logging

    import transformers

    transformers.logging.set_verbosity_error()
    logging.getLogger("prompts").setLevel(logging.ERROR)
    from finetune import DataArguments, FinetuneTrainingArguments, ModelArguments, train_classifier
    from finetune.data import movie_review_files
    try:
        from finetune_toolkit.core.causal_lm import load_generator
        from finetune_toolkit.core.generation import GenerationArguments, generate
    except ImportError:  # a revision from before the finetune_toolkit namespace (--compare_ref)
        from toolkit.causal_lm import load_generator
        from toolkit.generation import GenerationArguments, generate
    from prompts.classifier import FewShotClassifier, FewShotConfig, LabelledExamples
    from prompts.template import load_template

    files = movie_review_files()
    rows = {split: [json.loads(line) for line in Path(path).read_text().splitlines()] for split, path in files.items()}
    texts = [row["text"] for row in rows["train"] + rows["test"]]
    figures = {}
    with tempfile.TemporaryDirectory() as scratch:
        gpt2, encoder = build_tiny_models(Path(scratch), texts)
        model, tokenizer = load_generator(gpt2)
        clock = ModelClock(model)
        template = load_template("sentiment")
        pool = LabelledExamples([{"text": r["text"]} for r in rows["train"]], [r["label"] for r in rows["train"]])
        queries = [{"text": r["text"]} for r in rows["test"]] * 8
        for shots in (4, 0):
            for name, batch in (("default", None), ("batch16", 16)):
                config = FewShotConfig(shots=shots, selection="indices" if shots else "random",
                                       demonstration_indices=list(range(shots)) if shots else None, progress=False,
                                       **({"batch_size": batch} if batch else {}))
                classifier = FewShotClassifier(model, tokenizer, template, pool, config)
                seconds, outside = best_of(repeats, lambda: classifier.predict(queries), clock)
                figures[f"scoring_{shots}shot_{name}_examples_per_s"] = round(len(queries) / seconds, 1)
                figures[f"scoring_{shots}shot_{name}_overhead_ms_per_1k"] = round(1e6 * outside / len(queries), 1)

        prompts = [r["text"][:40] for r in rows["test"][:64]]
        arguments = GenerationArguments(max_new_tokens=32)
        seconds, outside = best_of(repeats, lambda: generate(model, tokenizer, prompts, arguments), clock)
        figures["generation_new_tokens_per_s"] = round(len(prompts) * 32 / seconds, 1)
        figures["generation_overhead_ms_per_1k_tokens"] = round(1e6 * outside / (len(prompts) * 32), 1)

        def train():
            output_dir = tempfile.mkdtemp(dir=scratch)
            metrics = train_classifier(
                ModelArguments(encoder), DataArguments(train_file=files["train"], validation_file=files["test"]),
                FinetuneTrainingArguments(output_dir=output_dir, do_train=True, num_train_epochs=2, per_device_train_batch_size=16,
                                          report_to="none", save_strategy="no", disable_tqdm=True, logging_strategy="no",
                                          overwrite_output_dir=True))
            train.samples_per_s = metrics["train_samples_per_second"]

        best_of(repeats, train)
        figures["training_samples_per_s"] = round(train.samples_per_s, 1)  # the Trainer's figure, of the last run
    return figures


def run_at_ref(ref: str, repeats: int) -> dict:
    """The same loops on revision `ref`, in a worktree, in a subprocess whose imports come from that worktree."""
    with tempfile.TemporaryDirectory() as scratch:
        worktree = Path(scratch) / "ref"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), ref], check=True,
                       capture_output=True)
        try:
            result = subprocess.run([sys.executable, __file__, "--raw", "--repeats", str(repeats)], capture_output=True, text=True,
                                    cwd=worktree, env={**os.environ, "PYTHONPATH": str(worktree)})
            if result.returncode != 0:
                raise SystemExit(f"the run at {ref} failed:\n{result.stderr[-2000:]}")
            return json.loads(result.stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], capture_output=True)


def _cli():
    """The argument parser and script runner; the `--raw` side also runs on revisions from before `finetune_toolkit.core`."""
    try:
        from finetune_toolkit.core import command_line
    except ImportError:  # a revision from before the finetune_toolkit namespace (--compare_ref)
        from toolkit import cli as command_line
    return command_line


def main(argv=None) -> dict:
    parse_args = _cli().parse_args

    (args,) = parse_args((BenchmarkArguments,), argv)
    if args.raw:
        print(json.dumps(measure(args.repeats)))
        return {}
    import platform

    import torch

    from finetune_toolkit.core.command_line import format_table
    from finetune_toolkit.core.outputs import atomic_write_json

    now = measure(args.repeats)
    before = run_at_ref(args.compare_ref, args.repeats) if args.compare_ref else None
    table = []
    for name, value in now.items():
        row = {"loop": name, "now": value}
        if before:
            row[args.compare_ref] = before[name]
            row["ratio"] = round(value / before[name], 2)
        table.append(row)
    print(format_table(table, ["loop", "now"] + ([args.compare_ref, "ratio"] if before else [])))
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    atomic_write_json(args.output, {"device": device, "torch": torch.__version__, "python": platform.python_version(),
                                    "settings": asdict(args), "now": now, "reference": before,
                                    "ratios": {row["loop"]: row.get("ratio") for row in table} if before else None})
    return now


if __name__ == "__main__":
    sys.path.insert(0, str(Path.cwd()))
    _cli().run_script(main)
