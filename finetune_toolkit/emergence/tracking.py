"""A `Trainer` callback that records the ICL score and induction scores as a model trains, and plots them.

Every `every_steps` steps (and before the first) it measures, in evaluation mode: the mean loss and the ICL score
on held-out blocks, and the per-head prefix-matching scores and the repeated-half loss on repeated random tokens
(`finetune_toolkit.emergence.measures`). Records go to `<output_dir>/icl_tracking.jsonl` (rewritten atomically each time); at the
end `icl_tracking.png` plots loss, ICL score and the best head's prefix-matching score against steps, with a line
at the phase change: the step where the best prefix-matching score rose most between two measurements.
A resumed run keeps the records of the steps it had already measured.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import TrainerCallback

from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.jsonio import loads_bounded
from finetune_toolkit.core.outputs import atomic_write_jsonl
from finetune_toolkit.core.plotting import pyplot, save_figure

from .measures import DEFAULT_EARLY, DEFAULT_LATE, icl_positions, icl_score, induction_scores, repeated_random_tokens

logger = logging.getLogger(__name__)
TRACKING_FILE, TRACKING_PLOT = "icl_tracking.jsonl", "icl_tracking.png"


@dataclass
class TrackingArguments:
    """`--track_icl`: record the ICL score and induction heads while a causal LM trains."""

    track_icl: bool = field(default=False, metadata={"help": "Record loss, ICL score and induction scores every --track_icl_steps steps."})
    track_icl_steps: int = field(default=50, metadata={"help": "Steps between measurements."})
    icl_early: int | None = field(default=None, metadata={"help": "ICL score: the early token (default 50, scaled to short contexts)."})
    icl_late: int | None = field(default=None, metadata={"help": "ICL score: the late token (default 500, scaled to short contexts)."})

    def __post_init__(self):
        require_at_least_one(self, "track_icl_steps", "icl_early", "icl_late")

    def callback(self, tokenizer, output_dir: str | Path) -> ICLTrackingCallback | None:
        """The callback for a run (None without --track_icl); it gets its held-out blocks from `prepare`."""
        if not self.track_icl:
            return None
        scale = self.icl_early is None and self.icl_late is None
        return ICLTrackingCallback(None, None, self.track_icl_steps, output_dir, self.icl_early or DEFAULT_EARLY,
                                   self.icl_late or DEFAULT_LATE, scale=scale, avoid=tuple(tokenizer.all_special_ids))


def phase_change_step(records: list[dict], key: str = "best_prefix_matching", min_rise: float = 0.1) -> int | None:
    """The step at the end of the largest rise of `key` between consecutive records; None when no rise reaches
    `min_rise` (no phase change, only drift) or with fewer than 2 records."""
    if len(records) < 2:
        return None
    rise, step = max((later[key] - earlier[key], later["step"]) for earlier, later in itertools.pairwise(records))
    return step if rise >= min_rise else None


class ICLTrackingCallback(TrainerCallback):
    """Measure ICL score and induction heads every `every_steps` steps; write JSONL and a plot to `output_dir`."""

    def __init__(self, heldout_ids: torch.Tensor | None, repeated_sequences: list[torch.Tensor] | None, every_steps: int,
                 output_dir: str | Path, early: int = DEFAULT_EARLY, late: int = DEFAULT_LATE, scale: bool = True,
                 avoid: tuple[int, ...] = (), verbose: bool = True):
        self.heldout_ids, self.repeated_sequences = heldout_ids, repeated_sequences
        self.every_steps, self.early, self.late, self.scale = every_steps, early, late, scale
        self.avoid, self.verbose = avoid, verbose
        self.output_dir = Path(output_dir)
        self.records: list[dict] = []
        if heldout_ids is not None:
            self.early, self.late = icl_positions(heldout_ids.shape[1], early, late, scale)

    def prepare(self, model, heldout_blocks) -> None:
        """Take held-out blocks (a dataset of equal-length `input_ids`) and make the repeated-token probes to fit
        them; refuse positions beyond the blocks and models that return no attention weights, before training. A
        callback made with its own held-out blocks and probes (the experiment's) keeps them."""
        if heldout_blocks is None and self.heldout_ids is not None and self.repeated_sequences is not None:
            return
        if heldout_blocks is None or "input_ids" not in heldout_blocks.column_names:
            raise UserError("--track_icl needs held-out text; add --do_eval (with --validation_file, or a --validation_split_percentage)")
        ids = heldout_blocks["input_ids"][:64]
        if len({len(row) for row in ids}) != 1:
            raise UserError("--track_icl measures plain-text blocks of one length; use plain text, not instruction data or --packing")
        self.heldout_ids = torch.tensor(ids)
        self.early, self.late = icl_positions(self.heldout_ids.shape[1], self.early, self.late, self.scale)
        longest = max(2, min(20, self.heldout_ids.shape[1] // 2))
        self.repeated_sequences = repeated_random_tokens(model.config.vocab_size, 32, tuple(range(max(2, longest - 12), longest + 1, 2)),
                                                         avoid=self.avoid)

    def measure(self, model, step: int) -> dict:
        training = model.training
        model.eval()
        try:
            record = {"step": step, **icl_score(model, self.heldout_ids, self.early, self.late, scale=False)}
            record.update(induction_scores(model, self.repeated_sequences).as_dict())
        finally:
            model.train(training)
        if self.verbose:
            print(f"step {step}: loss {record['loss']:.3f}, ICL score {record['icl_score']:+.3f}, best prefix matching "
                  f"{record['best_prefix_matching']:.3f} ({record['best_head']}), repeated-half loss {record['repeated_half_loss']:.3f}",
                  flush=True)
        return record

    def _record(self, args, state, model) -> None:
        if any(r["step"] == state.global_step for r in self.records):
            return
        record = self.measure(model, state.global_step)
        self.records.append(record)
        if state.is_world_process_zero:
            atomic_write_jsonl(self.output_dir / TRACKING_FILE, self.records)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        path = self.output_dir / TRACKING_FILE
        if path.is_file():  # a resumed run: keep what was measured up to the checkpoint
            previous = [loads_bounded(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            self.records = [r for r in previous if r["step"] <= state.global_step]
        self._record(args, state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every_steps == 0:
            self._record(args, state, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._record(args, state, model)
        if state.is_world_process_zero:
            plot_tracking(self.records, self.output_dir / TRACKING_PLOT)


def plot_tracking(records: list[dict], path: str | Path, title: str = "") -> Path:
    """Loss, ICL score and best prefix-matching score against steps; a dashed line at the phase change."""
    plt = pyplot()
    steps = [r["step"] for r in records]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = (("loss", "held-out loss"), ("icl_score", "ICL score (late - early loss)"), ("best_prefix_matching", "best head's prefix matching"))
    change = phase_change_step(records)
    for axis, (key, label) in zip(axes, panels):
        axis.plot(steps, [r[key] for r in records], marker=".")
        if key == "loss":
            axis.plot(steps, [r["repeated_half_loss"] for r in records], marker=".", label="repeated half (random tokens)")
            axis.legend(fontsize=7)
        if change is not None:
            axis.axvline(change, linestyle="--", color="gray")
        axis.set_xlabel("step")
        axis.set_title(label, fontsize=9)
        axis.grid(True, alpha=0.3)
    if change is not None:
        axes[2].annotate(f"phase change\nstep {change}", (change, 0.5), fontsize=8, xytext=(5, 0), textcoords="offset points")
    figure.suptitle(title or "in-context learning during training", fontsize=10)
    return save_figure(figure, path, dpi=110)
