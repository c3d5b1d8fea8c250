"""What one few-shot run takes (`FewShotConfig`) and gives (`FewShotPredictions`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.errors import UserError

from . import selection
from .calibration import CONTENT_FREE_INPUTS
from .demonstrations import UNRELATED_WORDS, DemonstrationCondition

LABEL_SCORINGS = ("auto", "single", "sum", "mean")
MODES = ("score", "generate")


@dataclass
class FewShotConfig:
    """One few-shot run: how demonstrations are picked and how labels are scored."""

    shots: int = 0
    seed: int = 0
    selection: str = "random"
    ordering: str = "as_selected"
    demonstration_indices: list[int] | None = None
    label_scoring: str = "auto"
    calibrate: bool = False
    content_free_inputs: tuple[str, ...] = CONTENT_FREE_INPUTS
    mode: str = "score"
    batch_size: int | None = None  # None: chosen automatically (see prompts.scoring.auto_batch_rows)
    reuse_prefix: bool = True
    embedding_model: str | None = None
    max_new_tokens: int | None = None  # None: 8 for a label (generate mode), the template's for a generation template
    stop: list[str] | None = None  # None: the template's (generation templates)
    chat: bool = False
    progress: bool = True
    # What the demonstrations show (prompts.demonstrations): label condition, share of correct labels, format, and
    # sentences of another corpus to show as their inputs.
    demo_labels: str = "gold"
    correct_fraction: float | None = None
    demo_format: str = "full"
    ood_texts: list[str] | None = None
    unrelated_label_words: tuple[str, ...] = UNRELATED_WORDS
    # A permutation of the selected (and ordered) demonstrations, for order studies: position i shows demonstration
    # demo_order[i].
    demo_order: tuple[int, ...] | None = None
    # A `finetune_toolkit.core.prefixes.PrefixStore` shared by the runs of one study on one model (order studies).
    prefix_store: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        self.demonstration_indices = self.demonstration_indices or None
        self.content_free_inputs = tuple(self.content_free_inputs)
        if self.shots < 0:
            raise UserError(f"--shots must be >= 0, got {self.shots}")
        require_at_least_one(self, "batch_size", "max_new_tokens")
        for value, allowed, flag in ((self.selection, selection.SELECTIONS, "selection"), (self.ordering, selection.ORDERINGS, "ordering"),
                                     (self.label_scoring, LABEL_SCORINGS, "label_scoring"), (self.mode, MODES, "mode")):
            if value not in allowed:
                raise UserError(f"unknown --{flag} {value!r}; choose from: {', '.join(allowed)}")
        if self.mode == "generate" and self.calibrate:
            raise UserError("--calibrate needs label scoring; drop it or use --mode score")
        if self.calibrate and not self.content_free_inputs:
            raise UserError("--calibrate needs at least one content-free input")
        self.unrelated_label_words = tuple(self.unrelated_label_words)
        self.demo_order = tuple(self.demo_order) if self.demo_order is not None else None
        condition = self.condition  # checks the condition's values
        if self.shots == 0 and not condition.is_gold:
            raise UserError(f"--demo_labels/--correct_fraction/--demo_format ({condition.name}) change the demonstrations, "
                            "and a 0-shot run has none: use shots above 0")
        if self.demo_order is not None and sorted(self.demo_order) != list(range(self.shots)):
            raise UserError(f"a demonstration order must be a permutation of 0..{self.shots - 1}, got {list(self.demo_order)}")

    @property
    def condition(self) -> DemonstrationCondition:
        """What the demonstrations show (`prompts.demonstrations`)."""
        return DemonstrationCondition(self.demo_labels, self.correct_fraction, self.demo_format)


    @property
    def demonstration_choice(self) -> selection.DemonstrationChoice:
        """The part of this configuration that picks demonstrations (`selection.demonstrations_for`)."""
        return selection.DemonstrationChoice(self.shots, self.selection, self.ordering, self.seed,
                                             self.demonstration_indices, self.embedding_model, self.demo_order)


@dataclass
class FewShotPredictions:
    """Per-example results of `FewShotClassifier.predict`, in input order."""

    predictions: list[int]
    probabilities: list[list[float]] | None
    demonstrations: list[list[int]]
    calibrated_predictions: list[int] | None = None
    calibrated_probabilities: list[list[float]] | None = None
    answers: list[str] | None = None  # generation mode: the raw answers; unmappable ones predict -1
    example_prompt: str = ""
    prompts: list[str] | None = None  # every example's prompt, as the template rendered it
    # For the continuous ("mirage") metrics: each label's log-probability over the whole vocabulary (scoring), or
    # the answers' tokens and each label's word tokens (generation).
    label_log_probs: list[list[float]] | None = None
    answer_tokens: list[list[int]] | None = None
    label_word_tokens: list[list[int]] | None = None
    label_words: list[str] | None = None
    # The label each demonstration showed (under a condition other than gold, not always its own).
    shown_labels: list[list] | None = None

    @property
    def unmappable(self) -> int:
        return sum(1 for p in self.predictions if p < 0)
