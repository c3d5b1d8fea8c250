"""Write `OUTPUT_DIR/report.html`: one self-contained page (no server, no network) with a command's settings, results,
plots and every example of every run, read from the files the command wrote.

    finetune-toolkit report outputs/sweep
    finetune-toolkit report --output_dir outputs/eval

Folders of `fewshot` (and `reproduce --preset`), `eval`, `lm --do_predict`, `generate --reference_column`, `compare`,
`emergence` and `scaling` are recognised by their files; those commands write the page themselves unless given
--no_report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from finetune_toolkit.core.command_line import parse_args
from finetune_toolkit.report import write_report


@dataclass
class ReportCommandArguments:
    output_dir: str = field(metadata={"help": "The folder a command wrote its results to (also the first argument)."})


def main(argv=None) -> Path:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-") and not argv[0].endswith((".json", ".yaml", ".yml")):
        argv = ["--output_dir", *argv]  # `report OUTPUT_DIR`, as the usage line reads
    (args,) = parse_args((ReportCommandArguments,), argv)
    path = write_report(args.output_dir)
    print(f"report: {path}")
    return path
