"""lm-eval tasks for `finetune-toolkit eval`: found (a local folder first, lm-eval's library only when needed) and
built with their documents before any model loads, so a task or dataset that cannot be had is one line."""

from __future__ import annotations

import difflib
from pathlib import Path

from finetune_toolkit.core.errors import UserError


def task_manager(include_path: str | None, tasks: list[str], metadata: dict | None = None):
    """lm-eval's `TaskManager`. Tasks all found in `include_path` load without indexing lm-eval's 14,000 built-in
    ones (15 s); otherwise every built-in task is indexed, as with `lm_eval --include_path`."""
    from lm_eval.tasks import TaskManager

    names = [task for task in tasks if not task.endswith((".yaml", ".yml"))]
    if include_path is not None:
        local = TaskManager(include_path=include_path, include_defaults=False, metadata=metadata)
        if all(local.match_tasks([task]) for task in names):
            return local
    manager = TaskManager(include_path=include_path, metadata=metadata)
    for task in names:
        if not manager.match_tasks([task]):
            close = difflib.get_close_matches(task, manager.all_tasks, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            where = f" or in {include_path}" if include_path else ""
            raise UserError(f"unknown task {task!r}: not among lm-eval's tasks{where}; {hint}"
                            "`lm-eval ls tasks` lists them, --include_path adds a folder of YAMLs")
    for task in tasks:
        if task.endswith((".yaml", ".yml")) and not Path(task).is_file():
            raise UserError(f"task file {task!r} does not exist")
    return manager


def build_task(task: str, manager) -> list:
    """The task, group or tag `task` names, built with its documents loaded (lm-eval's `TaskManager.load`), ready for
    `simple_evaluate(tasks=...)`; a dataset that cannot be loaded is one line (`dataset_error`)."""
    try:
        loaded = manager.load([task])
    except Exception as error:  # noqa: BLE001 - datasets and the Hub raise many kinds; each means the same here
        refusal = dataset_error(task, error)
        if refusal is None:
            raise
        raise refusal from None
    groups = loaded["groups"]
    if task in groups:
        return [groups[task]]
    return list(loaded["tasks"].values())


def dataset_error(task: str, error: BaseException) -> UserError | None:
    """The one line for a task whose documents cannot be loaded (offline, missing files), or None for other errors."""
    if not _is_data_error(error):
        return None
    text = f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"
    names = {type(e).__name__ for e in _chain(error)}
    unreachable = {"ConnectionError", "OfflineModeIsEnabled", "LocalEntryNotFoundError", "DatasetNotFoundError",
                   "HfHubHTTPError", "RepositoryNotFoundError", "GatedRepoError", "MaxRetryError", "NewConnectionError"}
    if names & {"FileNotFoundError", "DataFilesNotFoundError", "EmptyDatasetError"} and not names & unreachable \
            and "hub" not in text.lower():
        return UserError(f"task {task!r}: a data file it names cannot be read ({text}); check the data_files of its YAML")
    return UserError(f"task {task!r}: its dataset cannot be reached ({text}); this machine may be offline: a Hub dataset "
                     "needs the network or a copy in the datasets cache, or point the task at local files "
                     "(dataset_path: json, data_files)")


def _is_data_error(error: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(error)}
    data_errors = {"DatasetNotFoundError", "FileNotFoundError", "ConnectionError", "OfflineModeIsEnabled",
                   "LocalEntryNotFoundError", "HfHubHTTPError", "HFValidationError", "DataFilesNotFoundError",
                   "EmptyDatasetError", "RepositoryNotFoundError", "GatedRepoError", "MaxRetryError", "NewConnectionError"}
    return bool(names & data_errors) or "offline" in str(error).lower()


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


