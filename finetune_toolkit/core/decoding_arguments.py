"""How to decode, as flags: the generation settings `finetune-toolkit generate`, `lm --do_predict`, few-shot generation
and lm-eval's backend share (`generation.generate` takes them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .command_line import require_at_least_one
from .errors import UserError


@dataclass
class DecodingArguments:
    """How to decode (greedy by default, beams, sampling, lengths, stop strings, chat): the generation settings that
    `finetune-toolkit lm --do_predict` shares with `finetune-toolkit generate`, where the seed is the training seed."""
    max_new_tokens: int | None = field(default=None, metadata={"help": "New tokens per answer (default 64)."})
    max_length: int | None = field(
        default=None, metadata={"help": "Prompt plus new tokens, as in pipeline(); give this or --max_new_tokens."}
    )
    do_sample: bool = field(default=False, metadata={"help": "Sample instead of greedy or beam search."})
    temperature: float | None = field(default=None, metadata={"help": "Sampling temperature (> 0)."})
    top_k: int | None = field(default=None, metadata={"help": "Sample from the k most likely tokens."})
    top_p: float | None = field(default=None, metadata={"help": "Nucleus sampling: smallest set with this total probability."})
    repetition_penalty: float | None = field(default=None, metadata={"help": "> 1 discourages repeating tokens."})
    num_beams: int = field(default=1, metadata={"help": "Beam search with this many beams (1: greedy or sampling)."})
    num_return_sequences: int = field(default=1, metadata={"help": "Answers per prompt."})
    stop: list[str] = field(
        default_factory=list,
        metadata={"help": "Stop at this string (may repeat); the answer is cut before it. Escapes are read: --stop '\\n' "
                  "stops at a newline.", "action": "extend"}
    )
    chat: bool = field(default=False, metadata={"help": "Wrap each prompt in the tokenizer's chat template as a user turn."})
    system_prompt: str | None = field(default=None, metadata={"help": "System message for --chat."})
    batch_size: int | None = field(
        default=None, metadata={"help": "Prompts generated together. Default: 256 on a GPU (halved on out-of-memory), 32 on a CPU (fewer for long prompts)."})
    truncate_prompt: bool = field(
        default=True, metadata={"help": "Cut over-long prompts from the left (with a warning); --no_truncate_prompt refuses them."}
    )

    def __post_init__(self):
        if self.max_new_tokens is not None and self.max_length is not None:
            raise UserError("give --max_new_tokens or --max_length, not both")
        if self.max_new_tokens is None and self.max_length is None:
            self.max_new_tokens = 64
        require_at_least_one(self, "max_new_tokens", "max_length", "num_beams", "num_return_sequences", "batch_size")
        sampling_only = [name for name in ("temperature", "top_k", "top_p") if getattr(self, name) is not None]
        if sampling_only and not self.do_sample:
            raise UserError(f"--{sampling_only[0]} only matters when sampling; add --do_sample or drop it")
        if self.temperature is not None and self.temperature <= 0:
            raise UserError("--temperature must be > 0 (for greedy decoding leave out --do_sample)")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise UserError("--top_p must be in (0, 1]")
        if not self.do_sample and self.num_return_sequences > self.num_beams:
            raise UserError(
                f"--num_return_sequences {self.num_return_sequences} needs --do_sample or at least as many --num_beams"
            )
        if self.system_prompt and not self.chat:
            raise UserError("--system_prompt needs --chat")
        if self.do_sample and self.num_beams > 1:
            raise UserError("--num_beams with --do_sample is beam sampling, which this toolkit does not offer; drop one of them")
        if any(stop == "" for stop in self.stop):
            raise UserError('--stop needs a non-empty string (e.g. --stop "\\n" for one-line answers)')


@dataclass
class GenerationArguments(DecodingArguments):
    """How to decode: every flag of `finetune-toolkit generate` except the model and input/output."""

    seed: int | None = field(default=None, metadata={"help": "Seed for reproducible sampling."})
