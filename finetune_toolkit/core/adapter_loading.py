"""Loading `peft` adapter directories (LoRA, prompt tuning) wherever a model directory is accepted.

An adapter directory holds `adapter_config.json` and `adapter_model.safetensors`; its config names the
base model. Loading one loads the base model, then the adapter: LoRA is merged into the weights (a plain
Transformers model, as fast as the base and usable by every code path), a soft prompt stays a `PeftModel`
(there is nothing to merge; `prompts.scoring` and `generate` handle its virtual tokens).
"""

from __future__ import annotations

from pathlib import Path

from .errors import UserError
from .jsonio import loads_bounded

ADAPTER_CONFIG = "adapter_config.json"
LABELS_FILE = "labels.json"  # classification adapters: the head's labels, which the base model's config lacks


def is_adapter_dir(name: str) -> bool:
    """Whether `name` is a local directory holding a `peft` adapter."""
    return (Path(name).expanduser() / ADAPTER_CONFIG).is_file()


def adapter_config(directory: str) -> dict:
    """The adapter's `adapter_config.json`, checked to name a base model."""
    path = Path(directory).expanduser() / ADAPTER_CONFIG
    try:
        config = loads_bounded(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"adapter directory {directory!r} has an unreadable {ADAPTER_CONFIG} ({error}); save the adapter again") from None
    if not isinstance(config, dict) or not isinstance(config.get("base_model_name_or_path"), str) or not config["base_model_name_or_path"]:
        raise UserError(f"adapter directory {directory!r}: {ADAPTER_CONFIG} names no base model (base_model_name_or_path); save the adapter again")
    return config


def base_model_name(directory: str) -> str:
    """The base model an adapter was trained on, refused with the fix when it is a local path that is gone."""
    base = adapter_config(directory)["base_model_name_or_path"]
    looks_local = base.startswith(("/", ".", "~")) or Path(base).expanduser().is_absolute()
    if looks_local and not (Path(base).expanduser() / "config.json").is_file():
        raise UserError(
            f"adapter directory {directory!r} needs its base model {base!r}, which is missing; restore that directory, "
            f"or edit base_model_name_or_path in {ADAPTER_CONFIG} to where the base model now is"
        )
    return base


def head_labels(directory: str) -> dict:
    """`num_labels`, `id2label` and `label2id` for a classification adapter's base model (empty if not saved)."""
    path = Path(directory).expanduser() / LABELS_FILE
    if not path.is_file():
        return {}
    id2label = {int(k): v for k, v in loads_bounded(path.read_text(encoding="utf-8")).items()}
    return {"num_labels": len(id2label), "id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}


def attach_adapter(base_model, directory: str, merge: bool = True):
    """Load the adapter in `directory` onto `base_model`; merge LoRA weights in when `merge`."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(base_model, str(Path(directory).expanduser()))
    if merge and not model.active_peft_config.is_prompt_learning:
        return model.merge_and_unload()
    return model


def is_prompt_learning(model) -> bool:
    """Whether `model` is a `PeftModel` with a soft prompt (prompt tuning): virtual tokens before every input."""
    config = getattr(model, "active_peft_config", None)
    return bool(config is not None and config.is_prompt_learning)
