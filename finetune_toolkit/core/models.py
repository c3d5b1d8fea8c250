"""Loading models and tokenizers (Hub ids, local directories, `packaged:` names, adapter directories) with the
options every script shares (`ModelArguments`). What a name points to and the errors users see live in
`finetune_toolkit.core.model_names`."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer
from transformers.utils import logging as hf_logging

from .adapter_loading import attach_adapter, base_model_name, head_labels, is_adapter_dir
from .device import cuda_usable
from .errors import UserError
from .model_names import hub_reachable, load_errors_as_user_errors, resolve_model_name

logger = logging.getLogger(__name__)

ATTENTION_KERNELS = ("sdpa", "eager", "flash_attention_2", "flash_attention_3")


@dataclass
class ModelArguments:
    """Which model to load and how (flags shared by every script)."""
    model_name_or_path: str = field(
        metadata={
            "help": "Hub model id (e.g. distilbert-base-uncased), a local directory saved with "
            "save_pretrained, or a packaged model: packaged:all-MiniLM-L6-v2, packaged:SmolLM2-135M-Instruct."
        }
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Tokenizer name or path, if not the same as the model's."}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where to cache files downloaded from the Hub."})
    model_revision: str = field(default="main", metadata={"help": "Model revision: a branch, tag or commit id."})
    token: str | None = field(default=None, metadata={"help": "Hub token for private models (or run `hf auth login`)."})
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Run Python code from the model's Hub repository. Off by default: only for repositories you trust."},
    )
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={"help": "Start a new head when the checkpoint's head has another number of labels."},
    )
    allow_pickle_weights: bool = field(
        default=False,
        metadata={"help": "Allow loading pickle (.bin) weights when no safetensors exist. Pickle can run code: off by default."},
    )
    attn_implementation: str | None = field(
        default=None,
        metadata={"help": "Attention kernel: sdpa (PyTorch scaled_dot_product_attention, Transformers' default where "
                  "supported), eager, or flash_attention_2 (CUDA GPU with the flash-attn package)."},
    )

    def __post_init__(self):
        if self.attn_implementation is None:
            return
        if self.attn_implementation not in ATTENTION_KERNELS:
            raise UserError(f"unknown --attn_implementation {self.attn_implementation!r}; choose from: {', '.join(ATTENTION_KERNELS)}")
        if self.attn_implementation.startswith("flash_attention"):
            if not cuda_usable():
                raise UserError(f"--attn_implementation {self.attn_implementation} needs a CUDA GPU and none is in use; use sdpa")
            if importlib.util.find_spec("flash_attn") is None:
                raise UserError(f"--attn_implementation {self.attn_implementation} needs the flash-attn package; pip install flash-attn, or use sdpa")


def pretrained_kwargs(args: ModelArguments, name: str) -> dict:
    """Keyword arguments shared by every `from_pretrained` call for `name`."""
    kwargs = {
        "cache_dir": args.cache_dir,
        "revision": args.model_revision,
        "token": args.token,
        "trust_remote_code": args.trust_remote_code,
    }
    if args.trust_remote_code:
        logger.warning("trust_remote_code=True: code from %r will run on this machine", name)
    if not Path(name).is_dir() and not hub_reachable():
        # Use the local Hugging Face cache only, instead of retrying the network for a minute.
        kwargs["local_files_only"] = True
    return kwargs


def load_tokenizer(args: ModelArguments, **kwargs):
    """Load the tokenizer for `args` (its own `tokenizer_name`, else the model's)."""
    requested = args.tokenizer_name or args.model_name_or_path
    name = resolve_model_name(requested)
    if is_adapter_dir(name) and not (Path(name) / "tokenizer_config.json").is_file():
        name = resolve_model_name(base_model_name(name))  # an adapter saved without its tokenizer: the base model's
    with load_errors_as_user_errors(requested, "tokenizer"):
        return AutoTokenizer.from_pretrained(name, **pretrained_kwargs(args, name), **kwargs)


def load_model(auto_class, args: ModelArguments, new_head: bool = False, **kwargs):
    """Load `args.model_name_or_path` with `auto_class` (e.g. `AutoModelForSequenceClassification`).

    Weights come from safetensors unless `allow_pickle_weights` is set. With `new_head`, a task head the
    checkpoint lacks is expected (it is about to be trained): instead of Transformers' load report, one
    info line names it; weights missing from the body of the model are still reported as a warning.

    A `peft` adapter directory loads its base model and the adapter (`finetune_toolkit.core.adapter_loading`): LoRA comes back
    merged into a plain model, a soft prompt as a `PeftModel`.
    """
    name = resolve_model_name(args.model_name_or_path)
    if is_adapter_dir(name) and not (Path(name) / "config.json").is_file():
        base = base_model_name(name)
        try:
            model = load_model(auto_class, replace(args, model_name_or_path=base), new_head=new_head, **{**head_labels(name), **kwargs})
        except UserError as error:
            raise UserError(f"adapter directory {args.model_name_or_path!r}: {error}") from None
        with load_errors_as_user_errors(args.model_name_or_path):
            return attach_adapter(model, name)
    common = pretrained_kwargs(args, name)
    with load_errors_as_user_errors(args.model_name_or_path):
        try:
            if args.attn_implementation:
                kwargs.setdefault("attn_implementation", args.attn_implementation)
            if new_head:
                return _load_with_new_head(auto_class, name, use_safetensors=not args.allow_pickle_weights or None, **common, **kwargs)
            return auto_class.from_pretrained(name, use_safetensors=not args.allow_pickle_weights or None, **common, **kwargs)
        except ValueError:
            config = _local_config(name)
            if config is not None and type(config) not in auto_class._model_mapping:  # noqa: SLF001 - the auto class's own table
                task = "text generation (a decoder such as gpt2)" if "CausalLM" in auto_class.__name__ else auto_class.__name__
                raise UserError(
                    f"model {args.model_name_or_path!r} ({config.model_type}) cannot be used for {task}; choose a model of that kind"
                ) from None
            raise
        except OSError as error:
            if not args.allow_pickle_weights and _only_pickle_weights(name, error):
                raise UserError(
                    f"model {args.model_name_or_path!r} has no safetensors weights, only pickle files, which can run "
                    "code when loaded; pass --allow_pickle_weights if you trust it"
                ) from None
            raise


def _load_with_new_head(auto_class, name: str, **kwargs):
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report would list the new head as MISSING: expected here
    try:
        model, info = auto_class.from_pretrained(name, output_loading_info=True, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    body = model.base_model_prefix + "."
    missing = info.get("missing_keys") or []
    head = sorted(key for key in missing if not key.startswith(body))
    if head:
        logger.info("new task head, initialised randomly and trained: %s", ", ".join(head))
    mismatched = [item[0] if isinstance(item, tuple) else item for item in info.get("mismatched_keys") or []]
    problems = {"missing_keys": sorted(key for key in missing if key.startswith(body)),
                "mismatched_keys": sorted(key for key in mismatched if key.startswith(body))}
    for kind, keys in problems.items():
        if keys:
            logger.warning("%s: %d %s in the checkpoint's model body: %s", name, len(keys), kind.replace("_", " "),
                           ", ".join(map(str, keys[:8])) + (" ..." if len(keys) > 8 else ""))
    return model


def ensure_pad_token(model, tokenizer) -> None:
    """Pad with EOS when the tokenizer has no pad token (GPT-2 and other decoders; padded positions are masked), and
    tell the model (`align_pad_token`)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    align_pad_token(model, tokenizer)


def align_pad_token(model, tokenizer) -> None:
    """Give the model's config (and generation config) the tokenizer's pad token before the `Trainer` sees them.

    The `Trainer` would align them itself, with a warning each run; our loaders set the pad token on
    purpose (EOS for GPT-2), so the model learns of it here.
    """
    if tokenizer.pad_token_id is None:
        return
    model.config.pad_token_id = tokenizer.pad_token_id
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:
        generation_config.pad_token_id = tokenizer.pad_token_id


def _local_config(name: str):
    """The model's config from the local cache or directory, or None when it cannot be read."""
    try:
        return AutoConfig.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError):
        return None


def _only_pickle_weights(name: str, error: OSError) -> bool:
    directory = Path(name)
    if directory.is_dir():
        return not any(directory.glob("*.safetensors")) and any(directory.glob("*.bin"))
    return "safetensors" in str(error) and "does not appear to have" in str(error)
