"""Reading JSON from users' files with the same answer on every Python version.

How deep `json.loads` can nest depends on the interpreter (3.11 raises RecursionError on a few thousand
levels, 3.12 parses them), so user input is held to one fixed depth instead: the same message everywhere.
"""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 100


class JSONTooDeep(ValueError):
    """A JSON value nested more than `MAX_JSON_DEPTH` levels deep."""


def loads_bounded(text: str) -> Any:
    """`json.loads(text)`, refusing values nested more than `MAX_JSON_DEPTH` levels deep (`JSONTooDeep`).

    Other malformed text raises `json.JSONDecodeError`, as `json.loads` does.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONTooDeep(f"nests JSON more than {MAX_JSON_DEPTH} levels deep") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise JSONTooDeep(f"nests JSON more than {MAX_JSON_DEPTH} levels deep")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of containers, counted without recursion (a scalar is 0, `[]` is 1)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            if deepest > MAX_JSON_DEPTH:
                return deepest
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
