"""Loading a causal LM for generation and label scoring: on Accelerate's device, set up for batches.

    from finetune_toolkit.core.causal_lm import load_generator
    model, tokenizer = load_generator("packaged:SmolLM2-135M-Instruct")
"""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from .device import execution_device
from .errors import UserError
from .models import ModelArguments, ensure_pad_token, load_model, load_tokenizer


def load_generator(model_name_or_path: str | ModelArguments, dtype: str | None = None, cpu_bfloat16: bool = False):
    """Load a causal LM and its tokenizer, on the device Accelerate chose (`finetune_toolkit.core.device.execution_device`).

    `dtype` may be "bfloat16" or "float16" (GPU only; `cpu_bfloat16` allows bfloat16 on a CPU, as lm-eval does), or
    "auto" (the checkpoint's own dtype); a misspelled model name gets a suggestion.
    Returns `(model, tokenizer)`, the tokenizer set up for batched generation (left padding).
    """
    args = model_name_or_path if isinstance(model_name_or_path, ModelArguments) else ModelArguments(model_name_or_path)
    device = execution_device()
    torch_dtype = _check_dtype(dtype, device, cpu_bfloat16)
    tokenizer = load_tokenizer(args)
    model = load_model(AutoModelForCausalLM, args, **({"dtype": torch_dtype} if torch_dtype else {}))
    _refuse_encoder(model, args.model_name_or_path)
    model.to(device).eval()
    prepare_tokenizer(tokenizer, model)
    return model, tokenizer


def _refuse_encoder(model, name: str) -> None:
    """BERT-like encoders load as `*LMHeadModel` but were trained to fill masks, not to continue text."""
    config = model.config
    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        raise UserError(
            f"model {name!r} ({config.model_type}) is an encoder; text generation and few-shot scoring need a "
            "causal LM (a decoder such as gpt2 or packaged:SmolLM2-135M-Instruct)"
        )


def _check_dtype(dtype: str | None, device: torch.device, cpu_bfloat16: bool = False):
    if dtype in (None, "float32"):
        return None
    if dtype == "auto":
        return "auto"
    if dtype not in ("bfloat16", "float16"):
        raise UserError(f"unknown dtype {dtype!r}; use float32, bfloat16, float16 or auto")
    if dtype == "bfloat16" and cpu_bfloat16 and device.type == "cpu":
        return torch.bfloat16
    if device.type != "cuda":
        raise UserError(f"--dtype {dtype} needs a CUDA GPU and none is in use; use float32")
    if dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise UserError("this GPU has no bfloat16; use --dtype float16")
    return getattr(torch, dtype)


def prepare_tokenizer(tokenizer, model) -> None:
    """Left padding (decoders continue from the right end); EOS as pad token when there is none (GPT-2)."""
    tokenizer.padding_side = "left"
    ensure_pad_token(model, tokenizer)


def context_length(model) -> int | None:
    """The longest sequence the model's positions allow, or None if unbounded."""
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


