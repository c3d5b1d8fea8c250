"""A self-contained report page per output folder: `write_report(output_dir)` writes `output_dir/report.html`.

The page reads the files the command already wrote, through one loader per command (`sweep_loader`, `eval_loader`,
`run_loaders`): the settings, the results with their uncertainty, the plots, and every example of every run with its
prompt, its options' probabilities or its answer against the reference. `finetune-toolkit report OUTPUT_DIR` is the
command; `fewshot`, `eval --log_samples`, `lm --do_predict`, `generate --reference_column`, `compare`, `emergence`
and `scaling` write the page at the end of their run unless given `--no_report`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.outputs import atomic_write_text

from .eval_loader import is_eval, load_eval
from .page import GENERATOR, render_page
from .reading import Report, check_finished
from .run_loaders import generate_outputs, is_lm, load_compare, load_emergence, load_generate, load_lm, load_scaling
from .sweep_loader import is_sweep, load_sweep

__all__ = ["REPORT_FILE", "Report", "load_report", "write_report"]

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"

# (how to recognise a command's folder, how to read it), most specific first
LOADERS = (
    (lambda folder: (folder / "comparison.json").is_file(), load_compare),
    (lambda folder: (folder / "emergence.json").is_file(), load_emergence),
    (lambda folder: (folder / "scaling.json").is_file(), load_scaling),
    (is_sweep, load_sweep),
    (is_eval, load_eval),
    (is_lm, load_lm),
    (lambda folder: bool(generate_outputs(folder)), load_generate),
)


def load_report(output_dir: str | Path) -> Report:
    """What the page of `output_dir` shows; `UserError` for a folder with no results, a run not finished, or a
    file cut off."""
    folder = Path(output_dir)
    if not folder.is_dir():
        raise UserError(f"{str(folder)!r} is not a folder; give the --output_dir of a finetune-toolkit command")
    check_finished(folder)
    for recognises, load in LOADERS:
        if recognises(folder):
            return load(folder)
    raise UserError(f"{folder} holds no results of a finetune-toolkit command (fewshot, eval, lm --do_predict, generate "
                    "--reference_column, compare, emergence, scaling); give the folder the command wrote to")


def write_report(output_dir: str | Path) -> Path:
    """Write `output_dir/report.html` (atomically) and return its path. A `report.html` that this toolkit did not
    write is never replaced."""
    folder = Path(output_dir)
    report = load_report(folder)
    target = folder / REPORT_FILE
    if target.is_file() and f'content="{GENERATOR.rsplit(" ", 1)[0]}' not in target.read_text(encoding="utf-8", errors="replace")[:2000]:
        raise UserError(f"{target} exists and was not written by finetune-toolkit; move it away, then make the report")
    return atomic_write_text(target, render_page(report, folder))
