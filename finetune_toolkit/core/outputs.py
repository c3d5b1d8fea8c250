"""Writing results: atomic file writes and output-directory checks."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import UserError
from .jsonio import loads_bounded


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` so that readers see either the old file or the whole new one.

    The data goes to a temporary file in the same directory, is flushed to disk, then renamed over
    `path` (rename is atomic on POSIX within one file system). A failed write raises `UserError`.
    """
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results should read like any file the user writes
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as error:
        if tmp_name and os.path.exists(tmp_name):
            os.unlink(tmp_name)
        if isinstance(error, OSError):
            raise UserError(write_error_message(path, error)) from None
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically (see `atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_error_message(path, error: OSError) -> str:
    """One line for a failed write: what, why, and what to do; the previous file is untouched."""
    reason = error.strerror or type(error).__name__
    return f"cannot write {str(path)!r} ({reason}); free disk space or fix the permissions, or choose another --output_dir"


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented, key-sorted JSON to `path` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: list[dict]) -> Path:
    """Write one JSON object per line to `path` atomically."""
    return atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def check_output_dir(output_dir: str | os.PathLike | None, overwrite: bool) -> Path:
    """Refuse to write into an existing, non-empty directory unless `overwrite` is set.

    Called before any work starts, so that a refused run writes nothing at all.
    """
    if not output_dir:
        raise UserError("no output directory given; pass --output_dir DIR")
    path = Path(output_dir)
    if path.exists() and not path.is_dir():
        raise UserError(f"output directory {str(path)!r} is a file; pass another --output_dir")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise UserError(
            f"output directory {str(path)!r} exists and is not empty; pass --overwrite_output_dir to "
            "write into it, or choose another --output_dir"
        )
    return path


PLAN_FILE = "plan.json"


def check_plan(output_dir: str | os.PathLike, plan: dict, overwrite: bool, what: str, results: Iterable[str] = ()) -> bool:
    """The one resume rule of everything that fills an output directory piece by piece (sweeps, comparisons,
    experiments, ladders). Call it before any work; it returns True when resuming.

    - `output_dir` holds `plan.json` with the same `plan`: resume (the caller reads its finished pieces back);
    - it is absent or empty: start;
    - it holds another plan, or other files: refused, the message saying that it holds `what` (e.g. "a different
      sweep"), unless `overwrite`;
    - with `overwrite`, start over: the earlier `results` (names of files and folders inside `output_dir`) are
      removed, so nothing of an earlier run is read back.

    `plan.json` is (re)written either way.
    """
    path = check_output_dir(output_dir, overwrite=True)  # no directory given, or a file there, is refused here
    previous = read_plan(path)
    resuming = previous == plan and not overwrite
    if not resuming and path.is_dir() and any(path.iterdir()):
        if not overwrite:
            held = what if previous is not None else "other files"
            raise UserError(f"output directory {str(path)!r} holds {held}; pass --overwrite_output_dir to replace it, "
                            "or choose another --output_dir")
        for name in results:
            target = path / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    atomic_write_json(path / PLAN_FILE, plan)
    return resuming


def read_plan(output_dir: str | os.PathLike) -> dict | None:
    """The plan in `output_dir/plan.json`, or None when there is none or it is unreadable."""
    try:
        return loads_bounded((Path(output_dir) / PLAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a staging directory beside `path`; on success it replaces `path` whole, on failure it is removed.

    Readers see either no `path`, the old one, or the complete new one, never a half-written directory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError):
            raise UserError(write_error_message(path, error)) from None
        raise


RUNNING_FILE = ".running.json"


@contextlib.contextmanager
def running(output_dir: str | os.PathLike, command: str, planned: Iterable[str] = (), record: str = "") -> Iterator[None]:
    """Mark `output_dir` as being written by `command` until the block ends without an error, so that a report
    made meanwhile, or after a kill, knows the results are partial. `planned` names the command's runs and `record`
    the file that marks one finished (`{}` stands for its name, relative to `output_dir`)."""
    marker = Path(output_dir) / RUNNING_FILE
    atomic_write_json(marker, {"command": command, "planned": list(planned), "record": record})
    yield
    marker.unlink(missing_ok=True)
