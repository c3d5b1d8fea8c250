"""A model-size ladder: GPT-2s from a few thousand to about a million parameters, trained from scratch on the same
addition problems with the same steps, schedule and seed, each scored on held-out problems with a discontinuous
measure (exact match) and continuous ones (`answer_metrics`), and the sharpness of each measure along the ladder.

This is the scale axis of Wei et al. 2022 ("Emergent Abilities of Large Language Models", arXiv:2206.07682) in
miniature, measured the way Schaeffer et al. 2023 (arXiv:2304.15004) ask: the same predictions under both kinds of
metric. Every size trains through the toolkit's run routine (`finetune.training.train_and_save`), so Ctrl-C names
the checkpoint to resume from; finished sizes are read back on a rerun.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, default_data_collator

from finetune.checkpoints import last_complete_checkpoint
from finetune.training import FinetuneTrainingArguments, RunParts, run_training, start_run
from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.jsonio import loads_bounded
from finetune_toolkit.core.outputs import atomic_write_json, atomic_write_jsonl, check_plan, running

from .addition import addition_splits, addition_tokenizer, answer_length, prompt_length
from .answer_metrics import LOWER_IS_BETTER, METRICS, evaluate_answers, sharpness
from .scaling_plot import plot_ladder

SIZE = re.compile(r"^(\d+)x(\d+)$")
SEED = re.compile(r"^seed\d+$")
ROW_FILE, RESULT_FILE, PLOT_FILE, HELDOUT_FILE, ANSWERS_FILE = ("scaling_row.json", "scaling.json", "scaling.png",
                                                                 "heldout.jsonl", "answers.jsonl")
# Dense between 8k and 60k parameters, where 3-digit addition turns on with the default recipe.
DEFAULT_SIZES = ["1x16", "1x24", "2x24", "2x28", "2x32", "2x36", "2x40", "2x48", "3x64", "4x96", "4x144"]


@dataclass
class ScalingArguments:
    """The ladder (sizes as LAYERSxWIDTH), the task, and the one training recipe every size shares."""

    output_dir: str = field(default="outputs/scaling", metadata={"help": "Where each size's run, scaling.json and scaling.png go."})
    sizes: list[str] = field(default_factory=lambda: list(DEFAULT_SIZES),
                             metadata={"help": "Model sizes as LAYERSxWIDTH (e.g. 1x16 2x64 4x144), smallest first; "
                                       "parameter counts must increase."})
    head_width: int = field(default=16, metadata={"help": "Dimensions per attention head (heads = width / head_width, at least 1)."})
    digits: int = field(default=3, metadata={"help": "Digits of each operand; answers have digits + 1 tokens."})
    context_length: int = field(default=16, metadata={"help": "The models' context (n_positions); must hold problem and answer."})
    max_steps: int = field(default=2000, metadata={"help": "Training steps, the same for every size."})
    batch_size: int = field(default=64, metadata={"help": "Problems per step."})
    learning_rate: float = field(default=3e-3, metadata={"help": "Peak AdamW learning rate (5%% warm-up, cosine decay)."})
    heldout_problems: int = field(default=1000, metadata={"help": "Held-out problems each size is scored on (never trained on)."})
    seed: int = field(default=0, metadata={"help": "Seed for the problems, the weights and the data order."})
    num_seeds: int = field(default=1, metadata={"help": "Train every size under seeds --seed .. --seed + N - 1 and report "
                                                "mean ± std per size (read the ladder across seeds, not from one curve)."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Start over in a non-empty --output_dir."})

    def __post_init__(self):
        require_at_least_one(self, "head_width", "digits", "context_length", "max_steps", "batch_size", "heldout_problems",
                             "num_seeds")
        if not self.sizes:
            raise UserError("--sizes is empty; list model sizes as LAYERSxWIDTH, e.g. --sizes 1x16 2x64 4x144")
        shapes = [parse_size(size) for size in self.sizes]
        for size, (layers, width) in zip(self.sizes, shapes):
            if layers < 1 or width < 1:
                raise UserError(f"model size {size!r} has zero layers or width; use at least 1x1")
        if self.digits > 9:
            raise UserError(f"--digits {self.digits} is too many for integer arithmetic here; use at most 9")
        needed = prompt_length(self.digits) + answer_length(self.digits)
        if needed > self.context_length:
            raise UserError(f"a {self.digits}-digit problem and its answer take {needed} tokens, more than --context_length "
                            f"{self.context_length}; pass --context_length {needed} or fewer --digits")
        counts = [count_parameters(self, *shape) for shape in shapes]
        for (smaller, bigger), (count, next_count) in zip(zip(self.sizes, self.sizes[1:]), zip(counts, counts[1:])):
            if next_count <= count:
                raise UserError(f"the ladder must grow: {bigger} ({next_count:,} parameters) is not larger than {smaller} "
                                f"({count:,}); list --sizes smallest first")


def parse_size(size: str) -> tuple[int, int]:
    """`"2x64"` -> `(2, 64)` (layers, width)."""
    match = SIZE.match(size.strip())
    if not match:
        raise UserError(f"model size {size!r} is not LAYERSxWIDTH; write sizes like 2x64")
    return int(match.group(1)), int(match.group(2))


def model_config(args: ScalingArguments, layers: int, width: int) -> GPT2Config:
    """A GPT-2 config for one rung: `layers` blocks of `width` dimensions, no dropout, the task's 13-token vocabulary."""
    tokenizer = addition_tokenizer()
    heads = max(1, width // args.head_width)
    if width % heads:
        raise UserError(f"width {width} is not divisible into {heads} heads of --head_width {args.head_width}; pick a multiple")
    return GPT2Config(vocab_size=len(tokenizer), n_positions=args.context_length, n_embd=width, n_layer=layers, n_head=heads,
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=tokenizer.eos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


def count_parameters(args: ScalingArguments, layers: int, width: int) -> int:
    """Parameters of one rung, counted on the meta device (nothing allocated)."""
    with torch.device("meta"):
        return sum(p.numel() for p in GPT2LMHeadModel(model_config(args, layers, width)).parameters())


class ProblemRows(torch.utils.data.Dataset):
    """Token rows as `Trainer` examples; the loss covers the answer only (the problem's labels are -100)."""

    def __init__(self, rows: torch.Tensor, prompt_tokens: int):
        self.rows, self.prompt_tokens = rows, prompt_tokens

    def __len__(self) -> int:
        return self.rows.shape[0]

    def __getitem__(self, index: int) -> dict:
        labels = self.rows[index].clone()
        labels[: self.prompt_tokens] = -100
        return {"input_ids": self.rows[index], "labels": labels}


def train_rung(args: ScalingArguments, size: str, train: torch.Tensor, heldout: torch.Tensor, run_dir: Path, seed: int) -> dict:
    """Train one size from scratch with `seed` (resuming an interrupted run), score it on the held-out problems; its row."""
    layers, width = parse_size(size)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(model_config(args, layers, width))
    checkpoint = last_complete_checkpoint(run_dir)
    training = FinetuneTrainingArguments(
        output_dir=str(run_dir), do_train=True, max_steps=args.max_steps, per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate, lr_scheduler_type="cosine", warmup_steps=0.05, weight_decay=0.0, adam_beta2=0.98,
        logging_steps=max(1, args.max_steps // 10), save_strategy="steps", save_steps=max(100, args.max_steps // 5),
        save_total_limit=1, report_to="none", seed=seed,  # print_metrics: the log lines show progress in a log file
        overwrite_output_dir=True,  # the ladder's plan guards the directory; a size's run resumes or starts over
        resume_from_checkpoint=str(checkpoint) if checkpoint else None,
    )
    prompt_tokens = prompt_length(args.digits)
    output_dir, _ = start_run(training)
    start = time.perf_counter()
    metrics = run_training(training, output_dir, RunParts(model, addition_tokenizer(), ProblemRows(train, prompt_tokens),
                                                          data_collator=default_data_collator))
    seconds = time.perf_counter() - start
    tokenizer, answers = addition_tokenizer(), []
    scores = evaluate_answers(model, heldout, prompt_tokens, decode=tokenizer.decode, answers=answers)
    atomic_write_jsonl(run_dir / ANSWERS_FILE, [{"index": i, "prompt": tokenizer.decode(row[:prompt_tokens]), "prediction": answer,
                       "reference": tokenizer.decode(row[prompt_tokens:])} for i, (row, answer) in enumerate(zip(heldout.tolist(), answers))])
    return {"size": size, "seed": seed, "layers": layers, "width": width, "heads": model.config.n_head,
            "parameters": sum(p.numel() for p in model.parameters()), "train_loss": metrics.get("train_loss"),
            "train_seconds_this_run": round(seconds, 1), **scores}


def seed_dir(args: ScalingArguments, seed: int) -> Path:
    """Where one seed's sizes go: `--output_dir` itself for one seed, `<output_dir>/seed<S>` for several."""
    return Path(args.output_dir) if args.num_seeds == 1 else Path(args.output_dir) / f"seed{seed}"


def write_heldout(path: Path, heldout: torch.Tensor, digits: int) -> None:
    """The held-out problems as `problem`/`label` text rows (`348+275=`, `0623`), so that other tools (the few-shot
    sweep: a generation template `{problem}{label}`) can score the ladder's models on the same problems."""
    tokenizer, cut = addition_tokenizer(), prompt_length(digits)
    atomic_write_jsonl(path, [{"problem": tokenizer.decode(row[:cut]), "label": tokenizer.decode(row[cut:])} for row in heldout.tolist()])


def run_seed(args: ScalingArguments, seed: int, label: str) -> list[dict]:
    """Train and score every size under one seed (finished sizes are read back); one row per size."""
    directory = seed_dir(args, seed)
    train, heldout = addition_splits(args.max_steps * args.batch_size, args.heldout_problems, args.digits, seed)
    write_heldout(directory / HELDOUT_FILE, heldout, args.digits)
    rows = []
    for index, size in enumerate(args.sizes, 1):
        done = directory / size / ROW_FILE
        if done.is_file():
            row = loads_bounded(done.read_text(encoding="utf-8"))
        else:
            print(f"[{label}{index}/{len(args.sizes)}] training {size} ({count_parameters(args, *parse_size(size)):,} parameters, "
                  f"{args.max_steps} steps)", flush=True)
            row = train_rung(args, size, train, heldout, directory / size, seed)
            atomic_write_json(done, row)
        print(f"[{label}{index}/{len(args.sizes)}] {size}: {row['parameters']:,} parameters, exact match {row['exact_match']:.3f}, "
              f"token accuracy {row['token_accuracy']:.3f}, edit distance {row['token_edit_distance']:.3f}, "
              f"log p(correct answer) {row['correct_answer_log_prob']:.2f}", flush=True)
        rows.append(row)
    return rows


def ladder_sharpness(rows: list[dict]) -> dict:
    return {metric: sharpness([row[metric] for row in rows], metric not in LOWER_IS_BETTER) for metric in METRICS}


def mean_rows(runs: list[list[dict]]) -> list[dict]:
    """Per size, every measure's mean and std (`<measure>_std`) over the seeds' rows."""
    means = []
    for rows in zip(*runs):
        entry = {key: rows[0][key] for key in ("size", "layers", "width", "heads", "parameters")}
        for metric in (*METRICS, "correct_answer_token_log_prob"):
            values = [row[metric] for row in rows]
            entry[metric], entry[f"{metric}_std"] = statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
        means.append({**entry, "seeds": len(rows)})
    return means


def run_ladder(args: ScalingArguments) -> dict:
    """Train and score every size of the ladder under every seed (finished sizes are read back); write `scaling.json`
    and `scaling.png`; return the result: settings, one row per size (means over seeds when there are several, with
    each seed's rows under `runs`), and the sharpness of every measure (of the means, and of each seed)."""
    output_dir = Path(args.output_dir)
    settings = {k: v for k, v in asdict(args).items() if k not in ("output_dir", "overwrite_output_dir", "sizes")}
    earlier = [path.name for path in output_dir.iterdir() if SIZE.match(path.name) or SEED.match(path.name)] if output_dir.is_dir() else []
    check_plan(output_dir, settings, args.overwrite_output_dir, "a ladder with other settings", results=earlier)
    seeds = [args.seed + offset for offset in range(args.num_seeds)]
    planned = [str((seed_dir(args, seed) / size).relative_to(output_dir)) for seed in seeds for size in args.sizes]
    with running(output_dir, "scaling", planned, "{}/" + ROW_FILE):
        runs = [run_seed(args, seed, f"seed {seed}: " if len(seeds) > 1 else "") for seed in seeds]
    result = {"settings": {**settings, "sizes": args.sizes, "task": f"{args.digits}-digit addition, answers of "
                           f"{answer_length(args.digits)} tokens"},
              "models": runs[0] if len(seeds) == 1 else mean_rows(runs),
              "sharpness_note": "largest improvement between neighbouring sizes / improvement from the smallest to the "
                                "largest; null when the largest model is no better than the smallest"}
    result["sharpness"] = ladder_sharpness(result["models"])
    if len(seeds) > 1:
        result["runs"] = {f"seed{seed}": rows for seed, rows in zip(seeds, runs)}
        result["sharpness_per_seed"] = {f"seed{seed}": ladder_sharpness(rows) for seed, rows in zip(seeds, runs)}
    atomic_write_json(output_dir / RESULT_FILE, result)
    plot_ladder(result, output_dir / PLOT_FILE)
    return result
