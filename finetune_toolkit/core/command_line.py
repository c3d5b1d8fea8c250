"""What every script shares: argument parsing (flags or one config file) and error reporting."""

from __future__ import annotations

import difflib
import errno
import json
import linecache
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser

from .device import join_processes
from .errors import UserError
from .jsonio import loads_bounded
from .outputs import write_error_message

# A full disk, a read-only file system, no permission, an exceeded quota: the user's to fix, not a bug.
WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}

CONFIG_SUFFIXES = (".json", ".yaml", ".yml")


# Flags whose values are read with the escapes people type in a shell (`--stop '\\n'` is a newline). This is the one
# place escapes are read: dataclasses built in Python take their strings as they are.
ESCAPED_FLAGS = {"stop"}
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(text: str) -> str:
    """Read the escapes people type in a shell, where `"\\n"` reaches the program as a backslash and an `n`: `\\n`,
    `\\t`, `\\r` and `\\\\` become a newline, a tab, a carriage return and a backslash; anything else stays as written."""
    return re.sub(r"\\([ntr\\])", lambda match: ESCAPES[match.group(1)], text)


class _Parser(HfArgumentParser):
    """An `HfArgumentParser` whose usage errors become `UserError`s (one line, exit 2), and which reads the escapes of
    `ESCAPED_FLAGS`' values."""
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for action in self._actions:
            if action.dest in ESCAPED_FLAGS:
                action.type = unescape

    def error(self, message: str):  # noqa: D401 - argparse hook
        raise UserError(f"{message} (run with --help to list the options)")


def parse_args(dataclass_types: Sequence[type], argv: Sequence[str] | None = None) -> tuple[Any, ...]:
    """Parse command-line flags, or a single `.json`/`.yaml` config file, into dataclasses.

    As in the Transformers examples, `script.py config.yaml` reads every option from the file (its keys are the
    flags' names, checked and converted exactly as flags are); otherwise the flags are parsed. What becomes a
    one-line `UserError`: the parser's own refusals (unknown option, bad value), a config file that cannot be read,
    and the explicit checks of the option dataclasses (a `raise` in their `__post_init__` or its helpers, such as
    `TrainingArguments` refusing bf16 on this machine). Any other exception is a bug and keeps its traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _Parser(dataclass_types, allow_abbrev=False)
    if len(argv) == 1 and argv[0].lower().endswith(CONFIG_SUFFIXES):
        argv = config_as_flags(argv[0])
    try:
        *parsed, remaining = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except UserError:
        raise
    except (ValueError, ImportError) as error:
        if not _explicit_refusal(error, (*dataclass_types, HfArgumentParser)):
            raise
        raise UserError(_one_line(error)) from None
    if remaining:
        raise UserError(_unknown_options(parser, remaining))
    return tuple(parsed)


def config_as_flags(path: str) -> list[str]:
    """The flags a `.json`/`.yaml` config file stands for: each key becomes `--key` with its value (lists as several
    values, booleans as true/false, tables as JSON), so the parser checks and converts them as it does flags."""
    config_file = Path(path)
    if not config_file.is_file():
        raise UserError(f"config file {path!r} does not exist; check the path")
    try:
        text = config_file.read_text(encoding="utf-8")
        config = loads_bounded(text) if config_file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        raise UserError(f"config file {path!r} cannot be read ({_one_line(error)[:160]}); fix its syntax") from None
    if not isinstance(config, dict):
        raise UserError(f"config file {path!r} must hold a table of option: value pairs")
    flags = []
    for key, value in config.items():
        if value is None or value == []:
            continue  # the option's default
        values = value if isinstance(value, list) else [value]
        flags += [f"--{key}", *(_flag_value(item) for item in values)]
    return flags


def _flag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _explicit_refusal(error: BaseException, owners: tuple[type, ...]) -> bool:
    """Whether `error` was raised by a `raise` statement in a method of an option dataclass or of the parser: a check
    written for users, not a bug deeper down (a `ValueError` from a library call, say)."""
    trace = error.__traceback__
    if trace is None:
        return False
    while trace.tb_next is not None:
        trace = trace.tb_next
    frame = trace.tb_frame
    statement = linecache.getline(frame.f_code.co_filename, trace.tb_lineno).strip()
    return statement.startswith("raise ") and isinstance(frame.f_locals.get("self"), owners)


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
    join_processes()  # before the Trainer's arguments or the scorers ask: several CPU processes must find each other
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
