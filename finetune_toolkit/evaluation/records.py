"""Which (model, task) pairs of `finetune-toolkit eval` are done: a record per pair under `<output>/runs/`, written
only after lm-eval's results file is on disk and whole."""

from __future__ import annotations

import re
from pathlib import Path

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.jsonio import loads_bounded


def sanitized(name: str) -> str:
    """A model or task name as a file name, as lm-eval names its result folders."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name)


def record_path(output: Path, model_name: str, task: str) -> Path:
    """Where the record of a finished (model, task) pair lives."""
    return output / "runs" / sanitized(model_name) / f"{sanitized(task)}.json"


def read_record(output: Path | None, model_name: str, task: str) -> dict | None:
    """The record of a finished pair, or None when the pair must run (again): no record, or a results file that is
    missing or does not parse."""
    if output is None:
        return None
    path = record_path(output, model_name, task)
    try:
        record = loads_bounded(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not done, or unreadable: done again
    try:
        whole = "results" in loads_bounded((output / record.get("results_file", "")).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        whole = False
    return record if record.get("task") == task and whole else None


def written_results(staging: Path, task: str) -> Path:
    """The results file lm-eval's tracker wrote, checked to exist and parse: the tracker logs a failed write and goes
    on, and a pair whose results are not on disk must not count as done."""
    candidates = [path for path in staging.rglob("*.json") if not path.name.startswith("samples_")]
    for path in candidates:
        try:
            if "results" in loads_bounded(path.read_text(encoding="utf-8")):
                return path
        except (OSError, ValueError):
            continue
    raise UserError(f"task {task!r}: lm-eval could not write its results file under {staging.parent} (see the log "
                    "above); check the disk and the folder's permissions, then run the same command again")
