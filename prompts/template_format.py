"""Template format strings: literal text and `{field}` slots, parsed and filled by plain substitution.

Nothing in a format or a value is evaluated: `{text.__class__}` is an error, and values are inserted verbatim,
never re-parsed. `{{` and `}}` are literal braces.
"""

from __future__ import annotations

import re
from typing import Any

from finetune_toolkit.core.errors import UserError

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def parse_format(text: str, where: str) -> list[str | tuple[str]]:
    """Split a format string into literal strings and `(field_name,)` tuples; refuse anything but plain names."""
    if not isinstance(text, str):
        raise UserError(f"{where} must be a string, got {type(text).__name__}")
    parts: list[str | tuple[str]] = []
    literal, position = [], 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position:match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif token in ("{", "}"):
            raise UserError(
                f"{where} has an unbalanced {token!r} at character {match.start() + 1}; write {token * 2} for a literal brace"
            )
        else:
            name = match.group(1)
            if not _NAME.match(name):
                raise UserError(
                    f"{where}: {token} is not a field; fields are plain names such as {{text}} "
                    "(no attributes, indexes, conversions or format specs)"
                )
            parts.append("".join(literal))
            parts.append((name,))
            literal = []
    parts.append("".join(literal) + text[position:])
    return [part for part in parts if part != ""]


def substitute(parts: list[str | tuple[str]], values: dict[str, Any], where: str) -> str:
    """Fill the fields of a parsed format with `values`; a missing or non-text value is an error naming the field."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        (name,) = part
        if name not in values:
            raise UserError(f"{where} needs the field {name!r}, which the data lacks; rename a column or pass --text_columns")
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise UserError(f"field {name!r} must be text, got {type(value).__name__} ({str(value)[:40]!r})")
        out.append(str(value))
    return "".join(out)


def check_stop(stop: Any, where: str) -> list[str]:
    """A list of stop strings: non-empty, each a non-empty string."""
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise UserError(f"{where} must be a list of strings, e.g. ['\\n']")
    if not stop:
        raise UserError(f"{where} is empty; give at least one stop string, e.g. ['\\n'] for one-line answers")
    if any(s == "" for s in stop):
        raise UserError(f"{where} has an empty stop string, which would stop before the first token; remove it")
    return list(stop)
