"""`--no_report`, shared by every command that writes a report page, and the page written at the end of a run."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from finetune_toolkit.core.errors import UserError

logger = logging.getLogger(__name__)


@dataclass
class ReportArguments:
    no_report: bool = field(default=False, metadata={
        "help": "Do not write report.html at the end (the page of settings, results, plots and every example; "
                "`finetune-toolkit report OUTPUT_DIR` writes it later)."})


def report_at_end(output_dir: str | Path | None, args: ReportArguments) -> Path | None:
    """Write the run's report page unless `--no_report` (main process only). The results are already on disk, so a
    page that cannot be made is a warning, not a failed run."""
    from accelerate import PartialState

    from . import write_report

    if args.no_report or output_dir is None or not PartialState().is_main_process:
        return None
    try:
        path = write_report(output_dir)
    except UserError as error:
        print(f"report.html not written: {error}", file=sys.stderr)
        return None
    print(f"report: {path}", file=sys.stderr)
    return path
