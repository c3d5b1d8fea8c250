"""Resuming fine-tuning: find the last complete checkpoint, and never load a half-written one.

The `Trainer` writes a checkpoint's weights, optimizer, scheduler and RNG states first and
`trainer_state.json` last, so a run killed while saving leaves a directory without a readable
`trainer_state.json` (or with a truncated weights file). Such directories are ignored and removed.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from accelerate import PartialState
from safetensors import safe_open

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.file_checks import torch_file_problem
from finetune_toolkit.core.jsonio import loads_bounded

logger = logging.getLogger(__name__)
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
FINISHED_MARKER = "all_results.json"


def checkpoint_problem(directory: str | Path) -> str | None:
    """Why `directory` is not a complete Trainer checkpoint, or None when it is."""
    directory = Path(directory)
    if not directory.is_dir():
        return "it is not a directory"
    try:
        loads_bounded((directory / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "it has no readable trainer_state.json (the run was probably stopped while saving it)"
    weights = sorted(directory.glob("*.safetensors"))
    if not weights:
        return "it has no safetensors weights"

    for file in weights:
        try:
            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():
                    handle.get_slice(key)  # header and offsets must fit in the file
        except Exception:  # safetensors raises several types for a truncated file
            return f"its weights file {file.name} is truncated or corrupt"
    if not (directory / "optimizer.pt").is_file() or not list(directory.glob("rng_state*.pth")):
        return "it lacks the optimizer or RNG state needed to resume exactly"
    for file in sorted([*directory.glob("*.pt"), *directory.glob("*.pth")]):
        if problem := torch_file_problem(file):
            return f"its file {file.name} cannot be read: {problem}"
    return None


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete checkpoint with the highest step in `output_dir`; incomplete ones are removed with a warning."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    found = sorted(((int(m.group(1)), path) for path in output_dir.iterdir() if (m := CHECKPOINT.match(path.name))),
                   reverse=True)
    for _, path in found:
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        logger.warning("ignoring and removing %s: %s", path, problem)
        if PartialState().is_main_process:
            shutil.rmtree(path, ignore_errors=True)
    return None


def resume_point(output_dir: str | Path | None, explicit: str | None, overwrite: bool, do_train: bool) -> str | None:
    """The checkpoint to resume from: the one asked for (checked), or the last complete one of an unfinished run.

    A rerun of the same command on an output directory left by a killed run resumes automatically;
    a directory holding a finished run (all_results.json) is left to the usual output-directory check.
    """
    if explicit:
        problem = checkpoint_problem(explicit)
        if problem:
            raise UserError(f"cannot resume from {explicit!r}: {problem}; pick an earlier checkpoint-* directory")
        return explicit
    if not do_train or overwrite or not output_dir or (Path(output_dir) / FINISHED_MARKER).exists():
        return None
    checkpoint = last_complete_checkpoint(output_dir)
    if checkpoint is not None:
        logger.warning("resuming from %s (the output directory holds an unfinished run)", checkpoint)
        return str(checkpoint)
    return None
