"""Parameter-efficient fine-tuning with `peft`: LoRA and soft prompt tuning, QLoRA on a CUDA GPU.

LoRA (Hu et al. 2021) adds trainable low-rank updates to the model's linear layers, by default every
linear layer of the attention and MLP blocks (peft's "all-linear", which leaves the output layer alone).
Prompt tuning (Lester et al. 2021) trains only `num_virtual_tokens` input embeddings put before every
input, initialised from the embeddings of a text. For classification, LoRA goes on the encoder and the
classification head is trained fully (peft's `modules_to_save`).

The output directory then holds the adapter (`adapter_config.json`, `adapter_model.safetensors`);
`--merge_adapter` also writes the merged model to `<output_dir>/merged`.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from finetune_toolkit.core.device import cuda_usable
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.outputs import atomic_directory

logger = logging.getLogger(__name__)

PEFT_TYPES = ("lora", "prompt_tuning")
DEFAULT_INIT_TEXT = "Read the input and give the right answer:"
MERGED_DIR = "merged"


@dataclass
class PeftArguments:
    """Parameter-efficient fine-tuning options (`peft`)."""

    use_peft: bool = field(default=False, metadata={"help": "Train an adapter (--peft_type) instead of every weight."})
    peft_type: str = field(default="lora", metadata={"help": "lora or prompt_tuning."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling: updates are scaled by alpha / r."})
    lora_dropout: float = field(default=0.05, metadata={
        "help": "Dropout on the LoRA branch. 0 trains faster (no copy of each adapted layer's input; docs/benchmarks.md) "
                "but learned less on small data in the tests, so 0.05 stays the default."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={"help": "Names of the layers that get LoRA (e.g. q_proj v_proj). Default: every linear layer of "
                  "the attention and MLP blocks."},
    )
    num_virtual_tokens: int = field(default=20, metadata={"help": "Prompt tuning: number of trained virtual tokens."})
    prompt_tuning_init_text: str | None = field(
        default=None,
        metadata={"help": f"Prompt tuning: text whose token embeddings start the virtual tokens (default {DEFAULT_INIT_TEXT!r})."},
    )
    merge_adapter: bool = field(
        default=False, metadata={"help": f"LoRA: also write the model with the adapter merged in, to <output_dir>/{MERGED_DIR}."}
    )
    load_in_4bit: bool = field(
        default=False, metadata={"help": "QLoRA: load the frozen base model in 4-bit NF4 (bitsandbytes, CUDA GPU only)."}
    )

    def __post_init__(self):
        if not self.use_peft:
            for flag in ("merge_adapter", "load_in_4bit"):
                if getattr(self, flag):
                    raise UserError(f"--{flag} needs --use_peft; add --use_peft (with --peft_type lora)")
            return
        if self.peft_type not in PEFT_TYPES:
            raise UserError(f"unknown --peft_type {self.peft_type!r}; choose from: {', '.join(PEFT_TYPES)}")
        if self.lora_r < 1:
            raise UserError(f"--lora_r must be at least 1, got {self.lora_r}")
        if self.lora_alpha <= 0:
            raise UserError(f"--lora_alpha must be positive, got {self.lora_alpha}")
        if not 0 <= self.lora_dropout < 1:
            raise UserError(f"--lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.num_virtual_tokens < 1:
            raise UserError(f"--num_virtual_tokens must be at least 1, got {self.num_virtual_tokens}")
        if self.peft_type == "prompt_tuning":
            if self.merge_adapter:
                raise UserError("--merge_adapter works for LoRA only: a soft prompt has no weights to merge; drop it")
            if self.load_in_4bit:
                raise UserError("--load_in_4bit is QLoRA: use it with --peft_type lora")
        if self.load_in_4bit:
            check_4bit_possible()


def check_4bit_possible() -> None:
    """QLoRA needs a CUDA GPU and the bitsandbytes package; refuse early otherwise."""
    if not cuda_usable():
        raise UserError("--load_in_4bit (QLoRA) needs a CUDA GPU and none is in use; drop --load_in_4bit to train LoRA in float32")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError("--load_in_4bit (QLoRA) needs the bitsandbytes package; pip install bitsandbytes, or drop --load_in_4bit")


def quantization_kwargs(args: PeftArguments) -> dict:
    """`from_pretrained` keyword arguments for QLoRA's 4-bit NF4 base model (empty without --load_in_4bit)."""
    if not (args.use_peft and args.load_in_4bit):
        return {}
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                      bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)}


def _linear_layers(module: torch.nn.Module) -> dict[str, torch.nn.Module]:
    from transformers.pytorch_utils import Conv1D  # GPT-2's linear layers

    return {name: layer for name, layer in module.named_modules() if isinstance(layer, (torch.nn.Linear, Conv1D))}


def body_and_head(model) -> tuple[str, list[str]]:
    """The prefix of the model's body (`model`, `transformer`, `distilbert`, ...) and the names of its head modules
    that hold weights (dropout layers are left out: peft matches names by suffix, and `dropout` is also LoRA's)."""
    body = model.base_model_prefix
    if not hasattr(model, body):
        return "", []
    head = [name for name, child in model.named_children() if name != body and any(True for _ in child.parameters())]
    return body, head


def lora_targets(model, requested: list[str] | None) -> str | list[str]:
    """LoRA's `target_modules`: by default a pattern for every linear layer in the model's body (attention and
    MLP); else the requested names, each of which must match a layer's name or its last part."""
    body, head = body_and_head(model)
    layers = _linear_layers(model)
    in_body = [name for name in layers if name.startswith(body + ".")] if body else [n for n in layers if n.split(".")[0] not in head]
    if requested:
        available = sorted({name.rsplit(".", 1)[-1] for name in in_body})
        unknown = [t for t in requested if not any(name == t or name.endswith("." + t) for name in layers)]
        if unknown:
            raise UserError(
                f"--lora_target_modules {' '.join(unknown)} match no linear layer of the model; choose from: {', '.join(available)}"
            )
        return requested
    if not in_body:
        raise UserError("the model has no linear layers for LoRA; pass --lora_target_modules, or train without --use_peft")
    suffixes = sorted({name.rsplit(".", 1)[-1] for name in in_body})
    prefix = re.escape(body) + r"\..*\." if body else r"(.*\.)?"
    return prefix + "(" + "|".join(map(re.escape, suffixes)) + ")"


def add_adapter(model, args: PeftArguments, task: str, tokenizer_path: str | None = None):
    """Wrap `model` in a `peft` model for `task` ("CAUSAL_LM" or "SEQ_CLS") and log its trainable parameters.

    For "SEQ_CLS" the head modules stay fully trainable. `tokenizer_path` is where prompt tuning finds the
    tokenizer for its initial text.
    """
    from peft import LoraConfig, PromptTuningConfig, PromptTuningInit, get_peft_model, prepare_model_for_kbit_training

    if args.peft_type == "prompt_tuning":
        if task != "CAUSAL_LM":
            raise UserError("--peft_type prompt_tuning is for causal LMs (scripts/finetune_lm.py); use --peft_type lora for classification")
        config = PromptTuningConfig(
            task_type=task, num_virtual_tokens=args.num_virtual_tokens, prompt_tuning_init=PromptTuningInit.TEXT,
            prompt_tuning_init_text=args.prompt_tuning_init_text or DEFAULT_INIT_TEXT, tokenizer_name_or_path=tokenizer_path,
        )
    else:
        _, head = body_and_head(model)
        from transformers.pytorch_utils import Conv1D

        config = LoraConfig(
            task_type=task, r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
            target_modules=lora_targets(model, args.lora_target_modules),
            fan_in_fan_out=any(isinstance(m, Conv1D) for m in model.modules()),  # GPT-2 stores its weights transposed
            modules_to_save=head if task == "SEQ_CLS" and head else None,
        )
        if args.load_in_4bit:
            model = prepare_model_for_kbit_training(model)
    with warnings.catch_warnings():
        # peft 0.17+ asks Transformers 5 a deprecated question about gradient checkpointing; nothing for the user to do.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*is deprecated", category=FutureWarning)
        peft_model = get_peft_model(model, config)
    trainable, total = peft_model.get_nb_trainable_parameters()
    logger.info("%s: %s of %s parameters trainable (%.3f%%)", args.peft_type, f"{trainable:,}", f"{total:,}", 100 * trainable / total)
    return peft_model


def trainable_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts, for adapters and full models alike."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    return sum(p.numel() for p in model.parameters() if p.requires_grad), sum(p.numel() for p in model.parameters())


def save_merged(model, tokenizer, output_dir: Path) -> Path:
    """Write the LoRA-merged model and the tokenizer to `<output_dir>/merged` (a plain model directory)."""
    merged = model.merge_and_unload()
    target = output_dir / MERGED_DIR
    with atomic_directory(target) as staging:
        merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return target
