"""Checking the columns of loaded data, once for every package: text fields, and labels turned into ids.

Classification (`finetune.data`), causal-LM corpora (`finetune.language_modeling`) and few-shot prompting
(`prompts.data`) all check their rows here, so the same value gets the same answer everywhere.

Labels follow one rule:
- a `ClassLabel` column's integers are read as its names;
- a float that is a whole number (`1.0`) is that integer: CSV readers and pandas write integer columns that
  way as soon as one cell is blank, so refusing it would refuse ordinary files; any other float is refused;
- booleans and missing labels are refused;
- an integer is an id into the label names when the names are given in id order (`--class_names`, a
  template's labels); otherwise it is matched as text (`5` names the label "5");
- a string is matched against the names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import UserError



def row_error(source: str, row: int, problem: str) -> UserError:
    """Every data loader's error about one row, in one phrasing: `'<source>' row N: <problem>`, N counted from 1
    (the first data row is row 1, as a spreadsheet or `head -n 1` of a JSON-lines file counts)."""
    return UserError(f"{source!r} row {row}: {problem}")

def check_text_column(values: Sequence[Any], column: str, source: str, flag: str, skip_empty: bool = False) -> list[int]:
    """Check that every value of a text column is text; return the rows to keep.

    A value that is not a string is refused, naming `flag` (the option that picks the column). Empty or
    blank text is refused too, or, with `skip_empty` (a corpus, where blank lines carry nothing), left out.
    """
    keep = []
    for row, value in enumerate(values):
        if value is not None and not isinstance(value, str):
            raise row_error(source, row + 1, f"column {column!r} holds {type(value).__name__} values, not text; "
                            f"pass the right {flag}")
        if value is None or not value.strip():
            if skip_empty:
                continue
            raise row_error(source, row + 1, f"empty text in column {column!r}; fill or remove the row")
        keep.append(row)
    return keep


class UnknownLabel(UserError):
    """A label value that names none of the labels; `row` (1-based) and `value` let the caller say why."""

    def __init__(self, message: str, row: int, value: Any):
        super().__init__(message)
        self.row, self.value = row, value


def label_value(value: Any, class_names: Sequence[str] | None = None) -> int | str:
    """A raw label as an integer or a string, by the module's rule (`class_names`: a `ClassLabel`'s names)."""
    if class_names is not None and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(class_names):
        return class_names[value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def encode_labels(values: Sequence[Any], names: Sequence[str], source: str, ids_in_order: bool,
                  class_names: Sequence[str] | None = None) -> list[int]:
    """Label ids (indices into `names`) for `values`, by the module's rule.

    `ids_in_order`: integers are ids into `names`; otherwise integers are matched as text.
    `class_names`: the names of a `ClassLabel` column, whose integers stand for them.
    Raises `UserError` for a missing, boolean or fractional label, and `UnknownLabel` for a value that
    names no label, with a generic message the caller may replace with one that says how to fix its input.
    """
    index = {name: i for i, name in enumerate(names)}
    ids = []
    for row, raw in enumerate(values, 1):
        if raw is None:
            raise row_error(source, row, "missing label; fill it in or remove the row")
        value = label_value(raw, class_names)
        if isinstance(value, bool) or isinstance(value, float) or not isinstance(value, (int, str)):
            raise row_error(source, row, f"label {raw!r} is not a class label (a name or a whole number)")
        if isinstance(value, int) and ids_in_order:
            label_id = value if 0 <= value < len(names) else None
        else:
            label_id = index.get(str(value))
        if label_id is None:
            raise UnknownLabel(f"{source!r} row {row}: label {value!r} is not in the label set {list(names)}", row, value)
        ids.append(label_id)
    return ids
