"""The ready experiment: small GPT-2s trained from scratch on repeated random spans, watched for induction heads.

Each training block is a span of random tokens repeated until the block is full, with the span's length (the
period) drawn anew for every block. The first copy cannot be predicted; every later token can, by copying from
one period back, which is what an induction head does. The period varies on purpose: with one fixed distance a
1-layer model gets the same loss from position embeddings alone ("attend 12 tokens back"), no induction needed.
Olsson et al. 2022 find induction heads need two layers (a previous-token head composed with an induction head);
this experiment shows it: the 2-layer model's prefix-matching score jumps during training, the 1-layer model's
does not.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from datasets import Dataset
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, default_data_collator

from finetune.checkpoints import last_complete_checkpoint
from finetune.training import FinetuneTrainingArguments, quiet_logs
from toolkit.cli import require_at_least_one
from toolkit.errors import UserError
from toolkit.jsonio import loads_bounded
from toolkit.outputs import atomic_write_json, check_plan
from toolkit.plotting import pyplot, save_figure

from .measures import repeated_random_tokens
from .tracking import TRACKING_FILE, ICLTrackingCallback, phase_change_step

logger = logging.getLogger(__name__)
RESULT_FILE = "emergence.json"


@dataclass
class EmergenceArguments:
    """The models, data and training of the induction-head experiment."""

    output_dir: str = field(metadata={"help": "Where each model's run, the table and the plot go."})
    layers: list[int] = field(default_factory=lambda: [1, 2], metadata={"help": "Train one model per layer count (e.g. 1 2 4)."})
    attention_only: bool = field(default=False, metadata={"help": "Leave out the MLP blocks (attention-only transformers)."})
    n_embd: int = field(default=64, metadata={"help": "Model width."})
    n_head: int = field(default=4, metadata={"help": "Attention heads per layer."})
    vocab_size: int = field(default=128, metadata={"help": "Number of distinct random tokens."})
    block_size: int = field(default=64, metadata={"help": "Tokens per training block."})
    min_period: int = field(default=6, metadata={"help": "Shortest repeated span."})
    max_period: int = field(default=20, metadata={"help": "Longest repeated span."})
    max_steps: int = field(default=1500, metadata={"help": "Training steps per model."})
    batch_size: int = field(default=32, metadata={"help": "Blocks per step."})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate (linear decay, 5% warm-up)."})
    track_every: int = field(default=50, metadata={"help": "Measure ICL and induction scores every N steps."})
    seed: int = field(default=0, metadata={"help": "Seed for data and weights."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Start over in a non-empty --output_dir."})

    def __post_init__(self):
        require_at_least_one(self, "n_embd", "n_head", "max_steps", "batch_size", "track_every", "min_period")
        if not self.layers or min(self.layers) < 1:
            raise UserError(f"--layers must list layer counts of at least 1, got {self.layers}")
        if self.n_embd % self.n_head:
            raise UserError(f"--n_embd {self.n_embd} is not divisible by --n_head {self.n_head}")
        if self.max_period < self.min_period:
            raise UserError(f"--max_period {self.max_period} is below --min_period {self.min_period}")
        if self.block_size < 2 * self.max_period:
            raise UserError(f"--block_size {self.block_size} must hold two copies of the longest span; pass at least {2 * self.max_period}")
        if self.vocab_size < self.max_period:
            raise UserError(f"--vocab_size {self.vocab_size} must be at least --max_period {self.max_period}")


def repeated_span_blocks(count: int, args: EmergenceArguments, seed: int) -> torch.Tensor:
    """`[count, block_size]` blocks: a random span of a random period in [min_period, max_period], repeated."""
    generator = torch.Generator().manual_seed(seed)
    periods = torch.randint(args.min_period, args.max_period + 1, (count,), generator=generator)
    blocks = torch.empty(count, args.block_size, dtype=torch.long)
    for row, period in enumerate(periods.tolist()):
        span = torch.randint(0, args.vocab_size, (period,), generator=generator)
        blocks[row] = span.repeat(args.block_size // period + 1)[: args.block_size]
    return blocks


class _NoMLP(torch.nn.Module):
    """Stands in for a block's MLP in an attention-only model: adds nothing to the residual stream."""

    def forward(self, hidden_states):
        return torch.zeros_like(hidden_states)


def build_model(layers: int, args: EmergenceArguments) -> GPT2LMHeadModel:
    """A fresh GPT-2 of `layers` layers, no dropout (the task is deterministic), eager attention for the measures."""
    config = GPT2Config(vocab_size=args.vocab_size, n_positions=args.block_size, n_embd=args.n_embd, n_layer=layers,
                        n_head=args.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=0, eos_token_id=0)
    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(config)
    if args.attention_only:
        for block in model.transformer.h:
            block.mlp = _NoMLP()
    return model


def train_one(layers: int, args: EmergenceArguments, run_dir: Path) -> dict:
    """Train one model with the tracking callback (resuming from its last checkpoint); return its summary."""
    train = repeated_span_blocks(args.max_steps * args.batch_size, args, seed=args.seed)
    heldout = repeated_span_blocks(64, args, seed=args.seed + 1)
    probes = repeated_random_tokens(args.vocab_size, 32, lengths=tuple(range(args.min_period, args.max_period + 1, 2)),
                                    seed=args.seed + 2)
    model = build_model(layers, args)
    training = FinetuneTrainingArguments(
        output_dir=str(run_dir), max_steps=args.max_steps, per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate, warmup_steps=0.05, lr_scheduler_type="linear", weight_decay=0.0,
        save_strategy="steps", save_steps=max(args.track_every, 100), save_total_limit=1, logging_steps=args.track_every,
        report_to="none", seed=args.seed, print_metrics=False,
    )
    tracker = ICLTrackingCallback(heldout, probes, args.track_every, run_dir)
    dataset = Dataset.from_dict({"input_ids": train.tolist(), "labels": train.tolist()})
    trainer = Trainer(model=model, args=training, train_dataset=dataset, data_collator=default_data_collator, callbacks=[tracker])
    quiet_logs(trainer)  # the tracker prints one line per measurement instead
    checkpoint = last_complete_checkpoint(run_dir)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - start
    records = tracker.records
    final = records[-1]
    first = records[0]
    summary = {
        "layers": layers, "attention_only": args.attention_only, "parameters": sum(p.numel() for p in model.parameters()),
        "steps": final["step"], "train_seconds_this_run": round(seconds, 1),
        "first_half_loss": final["first_half_loss"], "repeated_half_loss": final["repeated_half_loss"],
        "repeated_half_loss_at_start": first["repeated_half_loss"],
        "best_prefix_matching": final["best_prefix_matching"], "best_head": final["best_head"],
        "icl_score": final["icl_score"], "phase_change_step": phase_change_step(records),
    }
    summary["induction_head"] = bool(summary["repeated_half_loss"] < summary["first_half_loss"] / 3
                                     and summary["best_prefix_matching"] >= 0.5)
    reached = [r["step"] for r in records if r["repeated_half_loss"] < r["first_half_loss"] / 3 and r["best_prefix_matching"] >= 0.5]
    summary["first_step_with_induction_head"] = reached[0] if reached else None
    atomic_write_json(run_dir / RESULT_FILE, summary)
    return summary


def run_name(layers: int, args: EmergenceArguments) -> str:
    """The directory of one model's run: `2-layer`, `2-layer-attn-only`."""
    return f"{layers}-layer{'-attn-only' if args.attention_only else ''}"


def run_experiment(args: EmergenceArguments) -> list[dict]:
    """Train every model in `args.layers` (finished ones are read back, interrupted ones resume); write
    `emergence.json` (the rows) and `emergence.png` (prefix matching and repeated-half loss against steps)."""
    output_dir = Path(args.output_dir)
    plan = {k: v for k, v in vars(args).items() if k not in ("output_dir", "overwrite_output_dir", "layers")}
    if not check_plan(output_dir, plan, args.overwrite_output_dir, "an experiment with other settings") and output_dir.is_dir():
        for path in output_dir.glob("*-layer*"):  # --overwrite_output_dir: start over, no earlier model read back
            shutil.rmtree(path)
    rows = []
    for layers in args.layers:
        run_dir = output_dir / run_name(layers, args)
        done = run_dir / RESULT_FILE
        row = loads_bounded(done.read_text(encoding="utf-8")) if done.is_file() else train_one(layers, args, run_dir)
        print(f"{layers} layer(s): repeated-half loss {row['repeated_half_loss']:.3f} (first half {row['first_half_loss']:.3f}), "
              f"best prefix matching {row['best_prefix_matching']:.3f}, induction head: {'yes' if row['induction_head'] else 'no'}",
              flush=True)
        rows.append(row)
    atomic_write_json(output_dir / "emergence.json", {"settings": plan, "models": rows})
    plot_models(output_dir, rows, args)
    return rows


def plot_models(output_dir: Path, rows: list[dict], args: EmergenceArguments) -> Path:
    """Two panels against steps, one line per model: best prefix-matching score, and repeated-half loss."""
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for row in rows:
        run_dir = output_dir / run_name(row["layers"], args)
        records = [json.loads(line) for line in (run_dir / TRACKING_FILE).read_text().splitlines() if line.strip()]
        steps = [r["step"] for r in records]
        label = f"{row['layers']} layer{'s' if row['layers'] > 1 else ''}"
        left.plot(steps, [r["best_prefix_matching"] for r in records], marker=".", label=label)
        right.plot(steps, [r["repeated_half_loss"] for r in records], marker=".", label=label)
        if row.get("phase_change_step") and row["induction_head"]:
            left.axvline(row["phase_change_step"], linestyle="--", color="gray", alpha=0.6)
    left.axhline(0.5, color="red", alpha=0.3)
    left.set(xlabel="step", ylabel="best head's prefix-matching score", title="induction heads")
    right.set(xlabel="step", ylabel="loss on the repeated half", title="copying from context (random tokens)")
    for axis in (left, right):
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    return save_figure(figure, output_dir / "emergence.png", dpi=110)
