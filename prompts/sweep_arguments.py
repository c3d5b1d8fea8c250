"""The options of a few-shot sweep (`scripts/fewshot.py`): what to sweep over, and the options every run shares."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.models import ModelArguments

from .calibration import CONTENT_FREE_INPUTS
from .run_types import FewShotConfig
from .selection import ORDERINGS, SELECTIONS
from .tasks import BUILTIN_TEMPLATES
from .template import check_stop


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
    ordering: str = field(default="as_selected", metadata={"help": f"Demonstration order: {', '.join(ORDERINGS)}."})
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
        # FewShotConfig checks every per-run option once (shots, batch size, selection, ordering, scoring, mode).
        for selection in self.selection:
            self.config_for(min(self.shots), self.seeds[0], selection)
        ModelArguments(self.model_name_or_path[0], attn_implementation=self.attn_implementation)  # checks the kernel

    def config_for(self, shots: int, seed: int, selection: str, progress: bool = True) -> FewShotConfig:
        """The `FewShotConfig` of one run: this sweep's options, with the run's shots, seed and selection."""
        shared = {name: getattr(self, name) for name in RUN_OPTIONS}
        return FewShotConfig(**shared, shots=shots, seed=seed, selection=selection, progress=progress)


# Options a sweep passes unchanged to every run's FewShotConfig (the same names in both dataclasses).
RUN_OPTIONS = tuple(sorted({f.name for f in fields(FewShotConfig)} & {f.name for f in fields(SweepArguments)}
                           - {"shots", "seed", "selection", "progress"}))
