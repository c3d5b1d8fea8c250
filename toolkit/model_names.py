"""Model names: what a name points to (a `packaged:` model, a directory, a Hub id), whether the Hub can be reached,
and what to tell the user when loading fails (typo hints, gated or missing repositories, offline machines)."""

from __future__ import annotations

import contextlib
import difflib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

from .adapter_loading import is_adapter_dir
from .errors import UserError
from .packaged import PACKAGED_MODELS, PREFIX, is_packaged, resolve_packaged

# Well-known Hub ids, used only to suggest a fix for a mistyped name (`gpt-2` -> `gpt2`).
KNOWN_MODEL_IDS = (
    "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "distilgpt2",
    "openai-community/gpt2", "openai-community/gpt2-medium", "distilbert/distilgpt2",
    "bert-base-uncased", "bert-base-cased", "bert-large-uncased", "bert-large-cased",
    "google-bert/bert-base-uncased", "google-bert/bert-base-cased",
    "distilbert-base-uncased", "distilbert-base-cased", "distilbert/distilbert-base-uncased",
    "distilbert-base-uncased-finetuned-sst-2-english",
    "roberta-base", "roberta-large", "distilroberta-base", "FacebookAI/roberta-base",
    "albert-base-v2", "xlnet-base-cased", "microsoft/deberta-v3-base", "answerdotai/ModernBERT-base",
    "sentence-transformers/all-MiniLM-L6-v2", "HuggingFaceTB/SmolLM2-135M-Instruct",
    "HuggingFaceTB/SmolLM2-360M-Instruct", "EleutherAI/pythia-70m", "EleutherAI/pythia-160m",
    "facebook/opt-125m", "Qwen/Qwen2.5-0.5B-Instruct",
)


def resolve_model_name(name: str) -> str:
    """Return what `from_pretrained` should load for `name`: a local directory or a Hub id.

    `packaged:` names become the installed package's directory; an existing directory must hold a
    `config.json`; a path that does not exist is an error rather than a Hub lookup.
    """
    if not name:
        raise UserError("no model given; pass --model_name_or_path (a Hub id, a directory or packaged:all-MiniLM-L6-v2)")
    if is_packaged(name):
        return resolve_packaged(name)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not is_adapter_dir(name):
            raise UserError(f"model directory {name!r} has no config.json; point to a directory saved with save_pretrained")
        return str(path)
    if path.exists():
        raise UserError(f"model path {name!r} is a file; point to the directory that holds config.json")
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep + os.sep in name:
        raise UserError(f"model directory {name!r} does not exist; check the path")
    return name


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub opens, so that an offline machine fails in seconds.

    Behind a proxy a direct connection says nothing, so the answer is then always yes.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    if any(os.environ.get(var) for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _suggestions(name: str) -> list[str]:
    candidates = list(KNOWN_MODEL_IDS) + [PREFIX + n for n in PACKAGED_MODELS]
    return difflib.get_close_matches(name, candidates, n=3, cutoff=0.75)


def _did_you_mean(name: str) -> str:
    close = [c for c in _suggestions(name) if c != name]
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


def hub_error(name: str, error: BaseException, what: str = "model") -> UserError:
    """Translate a failed `from_pretrained` into a `UserError` that says what to do."""
    if isinstance(error, GatedRepoError):
        return UserError(f"{what} {name!r} is gated on the Hub; accept its licence on its page and pass --token or run `hf auth login`")
    if isinstance(error, RepositoryNotFoundError):
        return UserError(f"{what} {name!r} was not found on the Hugging Face Hub; {_did_you_mean(name)}check the name, or pass a local directory")
    if isinstance(error, RevisionNotFoundError):
        return UserError(f"{what} {name!r} has no such revision; check --model_revision")
    text = str(error)
    if "does not appear to have a file named" in text or "does not appear to have files named" in text:
        return UserError(f"{what} {name!r} lacks a needed file ({' '.join(text.split())[:160]}); pass a complete model directory")
    if _suggestions(name) and name not in KNOWN_MODEL_IDS:
        return UserError(
            f"unknown {what} {name!r}: {_did_you_mean(name)}(it is not a local directory and the Hugging Face Hub "
            "could not confirm it; with no internet pass a local directory or a packaged: model)"
        )
    local = (
        "pass local files (--train_file, --validation_file)"
        if what == "dataset"
        else "pass a local directory or a packaged model (packaged:all-MiniLM-L6-v2, packaged:SmolLM2-135M-Instruct)"
    )
    return UserError(
        f"cannot load {what} {name!r}: it is not a local directory, the Hugging Face Hub is unreachable "
        f"(or HF_HUB_OFFLINE=1 is set) and it is not in the local cache; {local}, or set HF_HUB_OFFLINE=1 "
        "to use files already in the Hugging Face cache"
    )


@contextlib.contextmanager
def load_errors_as_user_errors(name: str, what: str = "model") -> Iterator[None]:
    """Context manager that turns Hub and file errors while loading `name` into `UserError`s."""
    try:
        yield
    except UserError:
        raise
    except (OSError, EnvironmentError) as error:
        raise hub_error(name, error, what) from None
    except (ValueError, RuntimeError) as error:
        message = " ".join(str(error).split())
        if "size mismatch" in message or "ignore_mismatched_sizes" in message:
            raise UserError(
                f"{what} {name!r} has layers of other shapes than asked for (a head with another number of labels?); "
                "pass --ignore_mismatched_sizes to start a new head"
            ) from None
        if "Unrecognized" in message or "model_type" in message:
            raise UserError(f"{what} {name!r} is not a model Transformers can load ({message[:200]})") from None
        raise
