"""What every script shares: argument parsing (flags or one config file) and error reporting."""

from __future__ import annotations

import difflib
import errno
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transformers import HfArgumentParser

from .errors import UserError
from .outputs import write_error_message

# A full disk, a read-only file system, no permission, an exceeded quota: the user's to fix, not a bug.
WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}

CONFIG_SUFFIXES = (".json", ".yaml", ".yml")


class _Parser(HfArgumentParser):
    """An `HfArgumentParser` whose usage errors become `UserError`s (one line, exit 2)."""
    def error(self, message: str):  # noqa: D401 - argparse hook
        raise UserError(f"{message} (run with --help to list the options)")


def parse_args(dataclass_types: Sequence[type], argv: Sequence[str] | None = None) -> tuple[Any, ...]:
    """Parse command-line flags, or a single `.json`/`.yaml` config file, into dataclasses.

    As in the Transformers examples, `script.py config.yaml` reads every option from the file;
    otherwise the flags are parsed. Invalid values and unknown keys raise `UserError`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _Parser(dataclass_types, allow_abbrev=False)
    try:
        if len(argv) == 1 and argv[0].lower().endswith(CONFIG_SUFFIXES):
            config = Path(argv[0])
            if not config.is_file():
                raise UserError(f"config file {argv[0]!r} does not exist; check the path")
            if config.suffix.lower() == ".json":
                return parser.parse_json_file(config, allow_extra_keys=False)
            return parser.parse_yaml_file(config, allow_extra_keys=False)
        *parsed, remaining = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
        if remaining:
            raise UserError(_unknown_options(parser, remaining))
        return tuple(parsed)
    except UserError:
        raise
    except (ValueError, TypeError, ImportError) as error:
        # Dataclass __post_init__ checks (e.g. TrainingArguments refusing bf16 on this machine)
        # and bad config files land here; keep the first line, which carries the reason.
        raise UserError(_one_line(error)) from None


def require_at_least_one(args: Any, *names: str) -> None:
    """Refuse a count option below 1 (None means "not given" and passes), naming the flag and the value."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name} must be at least 1, got {value}")


def _unknown_options(parser: HfArgumentParser, remaining: list[str]) -> str:
    flags = [f for f in remaining if f.startswith("-")] or remaining
    known = [option for action in parser._actions for option in action.option_strings]
    close = difflib.get_close_matches(flags[0].split("=")[0], known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown option {flags[0]!r}{hint}; run with --help to list the options"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def quiet_progress_bars_off_terminal() -> None:
    """Progress bars for a person at a terminal only: in a log file they leave dozens of half-lines.

    Turns off the bars of `datasets` and Transformers (loading weights, tokenizing) when stderr is not a
    terminal; the toolkit's own bars pass `disable=None`, which tqdm reads the same way, and the
    `Trainer`'s are turned off by `FinetuneTrainingArguments` (its logged metrics still print).
    """
    if sys.stderr.isatty():
        return
    # Imported here, not at the top: `datasets` costs a second, and only scripts writing to a log need it.
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()


def run_script(main: Callable[[], Any]) -> None:
    """Run a script's `main`, turning user errors into one stderr line and exit status 2."""
    quiet_progress_bars_off_terminal()
    try:
        main()
    except UserError as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:
        if error.errno not in WRITE_ERRNOS:
            raise
        print(f"error: {write_error_message(error.filename or 'the output directory', error)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as interrupt:
        print(f"interrupted: {interrupt}" if str(interrupt) else "interrupted: stopped by Ctrl-C", file=sys.stderr)
        sys.exit(130)


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table of `rows` (floats to 4 decimals), for printing results."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(column)) for column in columns) + " |" for row in rows]
    return "\n".join(lines)
