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

from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .adapter_loading import is_adapter_dir
from .errors import UserError
from .file_checks import folder_problem
from .packaged import PACKAGED_MODELS, PREFIX, is_packaged, resolve_packaged

# The Hub client's typed errors: what `hub_error` explains (`hub_cause` finds them behind Transformers' OSErrors).
HUB_ERRORS = (LocalEntryNotFoundError, EntryNotFoundError, RepositoryNotFoundError, GatedRepoError, RevisionNotFoundError,
              HfHubHTTPError, OfflineModeIsEnabled)

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


def hub_cause(error: BaseException) -> BaseException | None:
    """The Hub client's own error behind `error`, if there is one: Transformers and datasets wrap the typed errors of
    `huggingface_hub` (not in the cache, no such repository, gated, offline) in an `OSError`, keeping them as its
    cause. A connection error (no network, Hub unreachable) counts too. Nothing is read from message text."""
    seen = 0
    while error is not None and seen < 32:
        if isinstance(error, HUB_ERRORS) or isinstance(error, ConnectionError):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


def hub_error(name: str, error: BaseException, what: str = "model") -> UserError:
    """A `UserError` saying what to do about the Hub client's error `error` (see `hub_cause`) for `name`."""
    if isinstance(error, GatedRepoError):
        return UserError(f"{what} {name!r} is gated on the Hub; accept its licence on its page and pass --token or run `hf auth login`")
    if isinstance(error, RepositoryNotFoundError):
        return UserError(f"{what} {name!r} was not found on the Hugging Face Hub; {_did_you_mean(name)}check the name, or pass a local directory")
    if isinstance(error, RevisionNotFoundError):
        return UserError(f"{what} {name!r} has no such revision; check --model_revision")
    if isinstance(error, EntryNotFoundError) and not isinstance(error, LocalEntryNotFoundError):
        return UserError(f"{what} {name!r} on the Hub lacks a needed file ({_one_line(error)[:160]}); check the name or pass a complete local directory")
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


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _local_folder(name: str) -> str | None:
    try:
        resolved = resolve_model_name(name)
    except UserError:
        return None
    return resolved if Path(resolved).is_dir() else None


@contextlib.contextmanager
def load_errors_as_user_errors(name: str, what: str = "model") -> Iterator[None]:
    """Turn what a user can fix while loading `name` into one-line `UserError`s, and leave everything else alone.

    - a bad file in a local folder (a cut `model.safetensors` or `tokenizer.json`, a half-written adapter): the file
      and what is wrong with it (`file_checks.folder_problem`);
    - the Hub client's typed errors: not found, gated, not in the cache with the Hub unreachable (`hub_error`);
    - any other `OSError` (a file the loader could not find or read): its own message, in one line;
    - a checkpoint whose layers have other shapes than asked for: the flag that starts a new head.
    Anything else (a bug) keeps its traceback.
    """
    try:
        yield
    except UserError:
        raise
    except Exception as error:
        folder = _local_folder(name)
        problem = folder_problem(folder) if folder else None
        if problem:
            raise UserError(f"{problem}; save it again, or point to another directory") from None
        cause = hub_cause(error)
        if cause is not None:
            raise hub_error(name, cause, what) from None
        if isinstance(error, OSError):
            raise UserError(f"cannot load {what} {name!r}: {_one_line(error)[:300]}") from None
        if isinstance(error, (ValueError, RuntimeError)) and "size mismatch" in str(error):
            raise UserError(
                f"{what} {name!r} has layers of other shapes than asked for (a head with another number of labels?); "
                "pass --ignore_mismatched_sizes to start a new head"
            ) from None
        raise
