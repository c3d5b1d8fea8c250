"""The options of a few-shot sweep (`scripts/fewshot.py`): what to sweep over, and the options every run shares."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.models import ModelArguments

from .calibration import CONTENT_FREE_INPUTS
from .demonstrations import FORMATS, LABEL_CONDITIONS, UNRELATED_WORDS, DemonstrationCondition
from .order_selection import ORDER_CHOICES
from .order_study import MAX_ORDERS, check_orders
from .run_types import FewShotConfig
from .selection import ORDERINGS, SELECTIONS
from .tasks import BUILTIN_TEMPLATES
from .template import load_template
from .template_format import check_stop


@dataclass
class SweepArguments:
    """What to sweep over and how each run scores; every list flag takes several values."""
    model_name_or_path: list[str] = field(
        default_factory=list, metadata={"help": "Causal LM(s): Hub names, local directories or packaged:NAME.", "nargs": "+"})
    template: list[str] = field(
        default_factory=lambda: ["sentiment"],
        metadata={"help": f"Built-in template ({', '.join(BUILTIN_TEMPLATES)}) or .yaml/.json file(s) of one type "
                  "(classification, multiple_choice or generation).", "nargs": "+"})
    instruction: str | None = field(default=None, metadata={"help": "Replace the template's instruction (text before the demonstrations)."})
    shots: list[int] = field(default_factory=lambda: [0, 1, 4, 8], metadata={"help": "Numbers of demonstrations.", "nargs": "+"})
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "Seeds for demonstration selection.", "nargs": "+"})
    num_seeds: int | None = field(default=None, metadata={"help": "Use seeds 0..N-1 instead of --seeds."})
    selection: list[str] = field(
        default_factory=lambda: ["random"], metadata={"help": f"Selection strategies: {', '.join(SELECTIONS)}.", "nargs": "+"})
    ordering: str = field(default="as_selected", metadata={
        "help": f"Demonstration order: {', '.join(ORDERINGS)}; or {', '.join(ORDER_CHOICES)}: every candidate order "
                "runs (--orders, default 24) and the order Lu et al.'s entropy statistic picks without labels is "
                "reported beside the orders' mean (order_choice.csv)."})
    demonstration_indices: list[int] = field(
        default_factory=list, metadata={"help": "Pool rows for --selection indices.", "nargs": "+"})
    embedding_model: str | None = field(
        default=None, metadata={"help": "Encoder for --selection nearest (e.g. packaged:all-MiniLM-L6-v2); default TF-IDF."})
    calibrate: bool = field(default=False, metadata={"help": "Also report contextually calibrated predictions (each run gives both)."})
    content_free_inputs: list[str] = field(
        default_factory=lambda: list(CONTENT_FREE_INPUTS), metadata={"help": "Content-free inputs for calibration.", "nargs": "+"})
    label_scoring: str = field(
        default="auto", metadata={"help": "auto (single-token when every label word is one token, else sum), single, sum or mean."})
    mode: str = field(default="score", metadata={"help": "score: label log-probabilities; generate: generate an answer and map it."})
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "Answer length in tokens: generate mode (default 8), or a generation template's "
                                "max_new_tokens (its own by default)."})
    stop: list[str] | None = field(
        default=None, metadata={"help": "Generation templates: stop strings instead of the template's (escapes read: "
                                "--stop '\\n').", "nargs": "+"})
    chat: bool = field(default=False, metadata={"help": "Generate mode: wrap the prompt in the model's chat template."})
    batch_size: int | None = field(
        default=None, metadata={"help": "Prompts per forward pass. Default: chosen automatically, the largest that fits the GPU "
                                "(halved on out-of-memory), 16 on a CPU."})
    reuse_prefix: bool = field(default=True, metadata={"help": "Encode shared demonstrations once (--no_reuse_prefix: every full prompt)."})
    dtype: str | None = field(default=None, metadata={"help": "float32 (default), bfloat16 or float16 (GPU only)."})
    attn_implementation: str | None = field(default=None, metadata={"help": "Attention kernel: sdpa, eager or flash_attention_2 (GPU)."})
    demo_labels: list[str] = field(default_factory=lambda: ["gold"], metadata={
        "help": f"What the demonstrations' labels show, one run each: {', '.join(LABEL_CONDITIONS)} (Min et al. 2022, "
                "Wei et al. 2023; docs/analysis.md).", "nargs": "+"})
    correct_fraction: list[float] = field(default_factory=list, metadata={
        "help": "Shares of demonstrations that keep their gold label, one run each (e.g. 1 0.75 0.5 0.25 0); the "
                "others show a wrong one.", "nargs": "+"})
    demo_format: list[str] = field(default_factory=lambda: ["full"], metadata={
        "help": f"How demonstrations are shown, one run each: {', '.join(FORMATS)} (ood_inputs needs --ood_inputs).",
        "nargs": "+"})
    ood_inputs: str | None = field(default=None, metadata={
        "help": "Sentences of another corpus for --demo_format ood_inputs: a .txt file (one a line) or .jsonl/.csv "
                "with a text column. Giving it adds ood_inputs to --demo_format."})
    unrelated_label_words: list[str] = field(default_factory=lambda: list(UNRELATED_WORDS), metadata={
        "help": "Words that name the classes under --demo_labels unrelated (class i: word i).", "nargs": "+"})
    orders: str | None = field(default=None, metadata={
        "help": "Each demonstration set in N orders (the selection's own first), or all of them (Lu et al. 2022)."})
    max_orders: int = field(default=MAX_ORDERS, metadata={"help": "The most orders --orders all may run per set."})
    output_dir: str | None = field(default=None, metadata={"help": "Where results, predictions and plots go."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace a different sweep's results in --output_dir (the same sweep always resumes)."})

    def __post_init__(self):
        require_at_least_one(self, "num_seeds")
        if self.num_seeds is not None:
            self.seeds = list(range(self.num_seeds))
        if not self.model_name_or_path:
            raise UserError("no model given; pass --model_name_or_path NAME [NAME ...]")
        for name in ("shots", "seeds", "selection", "template"):
            if not getattr(self, name):
                raise UserError(f"--{name} needs at least one value")
        self.shots = list(dict.fromkeys(self.shots))
        if self.stop is not None:
            self.stop = check_stop(list(self.stop), "--stop")
        if self.ood_inputs is not None and "ood_inputs" not in self.demo_format:
            self.demo_format = [*self.demo_format, "ood_inputs"]
        if "ood_inputs" in self.demo_format and self.ood_inputs is None:
            raise UserError("--demo_format ood_inputs needs --ood_inputs FILE (sentences of another corpus)")
        if self.correct_fraction and max(self.shots) == 0:
            raise UserError("--correct_fraction sets the share of correct demonstration labels, and 0 shots have none; "
                            "add shots above 0")
        self.demo_labels = list(dict.fromkeys(self.demo_labels))
        self.demo_format = list(dict.fromkeys(self.demo_format))
        self.conditions()  # checks each value
        self.order_choice = None
        if self.ordering in ORDER_CHOICES:
            if self.template and any(load_template(name).kind != "classification" for name in self.template):
                raise UserError(f"--ordering {self.ordering} scores label distributions: use a classification template")
            self.order_choice, self.ordering, self.orders = self.ordering, "as_selected", self.orders or "24"
        check_orders(self.orders, self.shots, self.max_orders)
        # FewShotConfig checks every per-run option once (shots, batch size, selection, ordering, scoring, mode).
        for selection in self.selection:
            self.config_for(min(self.shots), self.seeds[0], selection)
        ModelArguments(self.model_name_or_path[0], attn_implementation=self.attn_implementation)  # checks the kernel

    def conditions(self) -> list[DemonstrationCondition]:
        """Every demonstration condition the sweep runs (for runs with shots): label conditions and shares of correct
        labels, each in every format."""
        labels = [(name, None) for name in self.demo_labels] + [("gold", fraction) for fraction in self.correct_fraction]
        return [DemonstrationCondition(name, fraction, form) for name, fraction in dict.fromkeys(labels)
                for form in self.demo_format]

    def config_for(self, shots: int, seed: int, selection: str, progress: bool = True,
                   condition: DemonstrationCondition | None = None, **run) -> FewShotConfig:
        """The `FewShotConfig` of one run: this sweep's options, with the run's shots, seed, selection, demonstration
        condition and anything else in `run` (demo_order, ood_texts, prefix_store)."""
        shared = {name: getattr(self, name) for name in RUN_OPTIONS}
        condition = condition if shots > 0 and condition is not None else DemonstrationCondition()
        return FewShotConfig(**shared, shots=shots, seed=seed, selection=selection, progress=progress,
                             demo_labels=condition.labels, correct_fraction=condition.correct_fraction,
                             demo_format=condition.format, **run)


# Options a sweep passes unchanged to every run's FewShotConfig (the same names in both dataclasses).
RUN_OPTIONS = tuple(sorted({f.name for f in fields(FewShotConfig)} & {f.name for f in fields(SweepArguments)}
                           - {"shots", "seed", "selection", "progress", "demo_labels", "correct_fraction", "demo_format"}))
