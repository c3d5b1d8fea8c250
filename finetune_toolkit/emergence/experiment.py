"""The ready experiment: small GPT-2s trained from scratch on repeated random spans, watched for induction heads.

Each training block is a span of random tokens repeated until the block is full, with the span's length (the
period) drawn anew for every block. The first copy cannot be predicted; every later token can, by copying from
one period back, which is what an induction head does. The period varies on purpose: with one fixed distance a
1-layer model gets the same loss from position embeddings alone ("attend 12 tokens back"), no induction needed.
Olsson et al. 2022 find induction heads need two layers (a previous-token head composed with an induction head);
this experiment shows it: the 2-layer model's prefix-matching score jumps during training, the 1-layer model's
does not, with or without MLPs (`--attention_only`, Olsson et al.'s canonical case). The output layer is not tied to
the token embeddings by default, as in Olsson et al.'s models: tied, as GPT-2 ties it, a 2-layer attention-only model
forms no induction head in 5,000 steps. After training, the induction heads are ablated (`measures.head_ablation`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from datasets import Dataset
from transformers import GPT2Config, GPT2LMHeadModel, default_data_collator

from finetune.checkpoints import last_complete_checkpoint
from finetune.training import FinetuneTrainingArguments, RunParts, run_training, start_run
from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.jsonio import loads_bounded
from finetune_toolkit.core.outputs import atomic_write_json, atomic_write_jsonl, check_plan, running
from finetune_toolkit.core.plotting import pyplot, save_figure

from .measures import ablate_heads, head_ablation, induction_scores, repeated_random_tokens
from .tracking import TRACKING_FILE, ICLTrackingCallback, phase_change_step

logger = logging.getLogger(__name__)
RESULT_FILE, TRAINING_LOSS_FILE = "emergence.json", "training_loss.jsonl"


@dataclass
class EmergenceArguments:
    """The models, data and training of the induction-head experiment."""

    output_dir: str | None = field(default=None, metadata={"help": "Where each model's run, the table and the plot go "
                                   "(default outputs/emergence, or outputs/emergence-attn-only with --attention_only)."})
    layers: list[int] = field(default_factory=lambda: [1, 2], metadata={"help": "Train one model per layer count (e.g. 1 2 4)."})
    attention_only: bool = field(default=False, metadata={"help": "Leave out the MLP blocks (attention-only transformers)."})
    tie_word_embeddings: bool = field(
        default=False,
        metadata={"help": "Tie the output layer to the token embeddings, as GPT-2 does. Off by default, as in Olsson et al.'s "
                  "models: tied, a 2-layer attention-only model forms no induction head (see the README)."})
    n_embd: int = field(default=64, metadata={"help": "Model width."})
    n_head: int = field(default=4, metadata={"help": "Attention heads per layer."})
    vocab_size: int = field(default=128, metadata={"help": "Number of distinct random tokens."})
    block_size: int = field(default=64, metadata={"help": "Tokens per training block."})
    min_period: int = field(default=6, metadata={"help": "Shortest repeated span."})
    max_period: int = field(default=20, metadata={"help": "Longest repeated span."})
    max_steps: int = field(default=1500, metadata={"help": "Training steps per model."})
    batch_size: int = field(default=32, metadata={"help": "Blocks per step."})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate (linear decay, 5%% warm-up)."})
    track_every: int = field(default=50, metadata={"help": "Measure ICL and induction scores every N steps."})
    loss_every: int = field(default=10, metadata={"help": "Record the training loss every N steps (to see the phase change in it)."})
    seed: int = field(default=0, metadata={"help": "Seed for data and weights."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Start over in a non-empty --output_dir."})

    def __post_init__(self):
        self.output_dir = self.output_dir or ("outputs/emergence-attn-only" if self.attention_only else "outputs/emergence")
        require_at_least_one(self, "n_embd", "n_head", "max_steps", "batch_size", "track_every", "loss_every", "min_period")
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
                        tie_word_embeddings=args.tie_word_embeddings, bos_token_id=0, eos_token_id=0)
    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(config)
    if args.attention_only:
        for block in model.transformer.h:
            block.mlp = _NoMLP()
    return model


def load_run_model(run_dir: str | Path, attention_only: bool) -> GPT2LMHeadModel:
    """A trained model of this experiment read back from its run directory. `from_pretrained` alone would give an
    attention-only model freshly initialised MLPs (its checkpoint has none), so they are removed again."""
    model = GPT2LMHeadModel.from_pretrained(run_dir)
    if attention_only:
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
    checkpoint = last_complete_checkpoint(run_dir)
    training = FinetuneTrainingArguments(
        output_dir=str(run_dir), do_train=True, max_steps=args.max_steps, per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate, warmup_steps=0.05, lr_scheduler_type="linear", weight_decay=0.0,
        save_strategy="steps", save_steps=max(args.track_every, 100), save_total_limit=1, logging_steps=args.loss_every,
        report_to="none", seed=args.seed, print_metrics=False,
        overwrite_output_dir=True,  # the experiment's plan guards the directory; a model's run resumes or starts over
        resume_from_checkpoint=str(checkpoint) if checkpoint else None,
    )
    tracker = ICLTrackingCallback(heldout, probes, args.track_every, run_dir)

    def save_training_loss(trainer) -> None:
        losses = [{"step": log["step"], "loss": log["loss"]} for log in trainer.state.log_history if "loss" in log]
        atomic_write_jsonl(run_dir / TRAINING_LOSS_FILE, losses)

    dataset = Dataset.from_dict({"input_ids": train.tolist(), "labels": train.tolist()})
    output_dir, _ = start_run(training)
    start = time.perf_counter()
    run_training(training, output_dir, RunParts(model, None, dataset, data_collator=default_data_collator, callbacks=[tracker],
                                                after_training=save_training_loss))
    seconds = time.perf_counter() - start
    return summarize(model, layers, args, tracker.records, probes) | {"train_seconds_this_run": round(seconds, 1)}


def has_induction_head(record: dict) -> bool:
    """The lab's rule: a head with prefix matching >= 0.5, and a repeated-half loss below a third of the first half's."""
    return record["best_prefix_matching"] >= 0.5 and record["repeated_half_loss"] < record["first_half_loss"] / 3


def induction_heads(record: dict, threshold: float = 0.5) -> list[tuple[int, int]]:
    """The heads whose prefix-matching score reaches `threshold` (the lab's rule), as `(layer, head)` pairs."""
    return [(layer, head) for layer, row in enumerate(record["prefix_matching"]) for head, score in enumerate(row) if score >= threshold]


def summarize(model, layers: int, args: EmergenceArguments, records: list[dict], probes: list[torch.Tensor]) -> dict:
    """One model's row: its final measures, when the induction head appeared, and the head-ablation losses: the
    heads ablated together are those with prefix matching >= 0.5 (all the induction heads), or the best head when
    none reaches it."""
    final, first = records[-1], records[0]
    best = tuple(int(word) for word in final["best_head"].split()[1::2])  # "layer 1 head 3"
    heads = induction_heads(final) or [best]
    model.eval()
    with ablate_heads(model, [best]):
        best_ablated = induction_scores(model, probes).repeated_half_loss
    summary = {
        "layers": layers, "attention_only": args.attention_only, "tie_word_embeddings": args.tie_word_embeddings,
        "parameters": sum(p.numel() for p in model.parameters()), "steps": final["step"],
        "first_half_loss": final["first_half_loss"], "repeated_half_loss": final["repeated_half_loss"],
        "repeated_half_loss_at_start": first["repeated_half_loss"],
        "best_prefix_matching": final["best_prefix_matching"], "best_head": final["best_head"],
        "icl_score": final["icl_score"], "phase_change_step": phase_change_step(records),
        "induction_head": has_induction_head(final), "ablated_heads": [f"layer {l} head {h}" for l, h in heads],
        "repeated_half_loss_best_head_ablated": best_ablated, **head_ablation(model, probes, heads),
    }
    reached = [r["step"] for r in records if has_induction_head(r)]
    summary["first_step_with_induction_head"] = reached[0] if reached else None
    return summary


def run_name(layers: int, args: EmergenceArguments) -> str:
    """The directory of one model's run: `2-layer`, `2-layer-attn-only`."""
    return f"{layers}-layer{'-attn-only' if args.attention_only else ''}"


def run_experiment(args: EmergenceArguments) -> list[dict]:
    """Train every model in `args.layers` (finished ones are read back, interrupted ones resume); write
    `emergence.json` (the rows) and `emergence.png` (prefix matching and repeated-half loss against steps)."""
    output_dir = Path(args.output_dir)
    plan = {k: v for k, v in vars(args).items() if k not in ("output_dir", "overwrite_output_dir", "layers")}
    earlier = [path.name for path in output_dir.glob("*-layer*")] if output_dir.is_dir() else []
    check_plan(output_dir, plan, args.overwrite_output_dir, "an experiment with other settings", results=earlier)
    rows = []
    with running(output_dir, "emergence", [run_name(layers, args) for layers in args.layers], "{}/" + RESULT_FILE):
        for layers in args.layers:
            run_dir = output_dir / run_name(layers, args)
            done = run_dir / RESULT_FILE
            if done.is_file():
                row = loads_bounded(done.read_text(encoding="utf-8"))
            else:
                row = train_one(layers, args, run_dir)
                atomic_write_json(done, row)
            print(f"{layers} layer(s): repeated-half loss {row['repeated_half_loss']:.3f} (first half {row['first_half_loss']:.3f}), "
                  f"best prefix matching {row['best_prefix_matching']:.3f}, induction head: {'yes' if row['induction_head'] else 'no'}; "
                  f"repeated-half loss with {', '.join(row['ablated_heads'])} ablated {row['repeated_half_loss_induction_heads_ablated']:.3f}, "
                  f"with one other head ablated {row['repeated_half_loss_other_heads_ablated_mean'] or float('nan'):.3f} (mean)",
                  flush=True)
            rows.append(row)
    atomic_write_json(output_dir / "emergence.json", {"settings": plan, "models": rows})
    plot_models(output_dir, rows, args)
    return rows


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file this experiment wrote."""
    return [loads_bounded(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_models(output_dir: Path, rows: list[dict], args: EmergenceArguments) -> Path:
    """Three panels against steps, one colour per model: the training loss, the ICL score and the best head's
    prefix-matching score, each with a dashed line at that model's phase change (Olsson et al.'s co-occurrence:
    the bump in the loss, the fall of the ICL score and the rise of prefix matching fall on the same steps)."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for index, row in enumerate(rows):
        run_dir = output_dir / run_name(row["layers"], args)
        records, losses = read_jsonl(run_dir / TRACKING_FILE), read_jsonl(run_dir / TRAINING_LOSS_FILE)
        colour = f"C{index}"
        label = f"{row['layers']} layer{'s' if row['layers'] > 1 else ''}"
        axes[0].plot([r["step"] for r in losses], [r["loss"] for r in losses], color=colour, linewidth=1, label=label)
        axes[1].plot([r["step"] for r in records], [r["icl_score"] for r in records], color=colour, marker=".", label=label)
        axes[2].plot([r["step"] for r in records], [r["best_prefix_matching"] for r in records], color=colour, marker=".", label=label)
        if row.get("phase_change_step") and row["induction_head"]:
            for axis in axes:
                axis.axvline(row["phase_change_step"], linestyle="--", color=colour, alpha=0.6)
    axes[2].axhline(0.5, color="red", alpha=0.3)
    titles = ("training loss", "ICL score (late - early token loss)", "best head's prefix-matching score")
    for axis, title in zip(axes, titles):
        axis.set(xlabel="step", title=title)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("dashed: the phase change (largest rise of prefix matching), marked on every panel", fontsize=9)
    return save_figure(figure, output_dir / "emergence.png", dpi=110)
