"""What every report loader needs: the report's content, and the command's files read with one clear error each."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.jsonio import JSONTooDeep, loads_bounded
from finetune_toolkit.core.outputs import RUNNING_FILE

from .examples import Contexts



@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Report:
    """What a page shows: the run's settings, tables, figures, and every example of every run."""

    command: str
    title: str
    settings: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)  # {"name", "kind", "examples"} in the order the page lists them
    rows: list[dict] = field(default_factory=list)  # `examples` page rows
    contexts: Contexts = field(default_factory=Contexts)
    notes: list[str] = field(default_factory=list)

    def add_run(self, name: str, kind: str, rows: list[dict]) -> None:
        self.runs.append({"name": name, "kind": kind, "examples": len(rows)})
        self.rows.extend(rows)

    @property
    def next_run(self) -> int:
        return len(self.runs)


def read_json(path: Path) -> Any:
    """A JSON file the command wrote, or one line saying it is cut or unreadable."""
    try:
        return loads_bounded(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} is missing; the run that writes it did not finish: run the same command again") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path} ({error}); fix the file's permissions or run the command again") from None
    except (json.JSONDecodeError, JSONTooDeep):
        raise UserError(f"{path} is cut or not JSON; run the command that wrote it again") from None


def read_jsonl(path: Path) -> list[dict]:
    """Per-example rows; a line cut off or not a JSON object is an error naming the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path} is missing, so its run's examples cannot be shown; run the same command again") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path} ({error}); fix the file's permissions or run the command again") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = loads_bounded(line)
        except (json.JSONDecodeError, JSONTooDeep):
            row = None
        if not isinstance(row, dict):
            raise UserError(f"{path} line {number} is cut off or not a JSON object; the file is incomplete: run the "
                            "command that wrote it again")
        rows.append(row)
    return rows


def check_finished(folder: Path) -> None:
    """Refuse a folder whose command is still running or was stopped: its results are partial."""
    marker = folder / RUNNING_FILE
    if not marker.exists():
        return
    try:
        state = loads_bounded(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    planned, record = state.get("planned") or [], state.get("record") or ""
    missing = [name for name in planned if not (record and (folder / record.format(name)).is_file())]
    listed = f"; missing: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}" if missing else ""
    done = f" ({len(planned) - len(missing)} of {len(planned)} runs finished{listed})" if planned else ""
    raise UserError(f"{folder}: `{state.get('command', 'the command')}` is still running or was stopped before its end{done}; "
                    "run the same command again to finish it, then make the report")


def flatten(settings: dict, prefix: str = "") -> dict[str, str]:
    """Nested settings as `a.b: value` lines, lists joined, for the page's settings table."""
    flat = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif value is not None and value != [] and value != "":
            flat[name] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return flat


def csv_table(path: Path, title: str) -> Table:
    """A CSV file the command wrote, as a page table."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return Table(title, rows[0] if rows else [], rows[1:])


def number(value: Any, digits: int = 4) -> str:
    """A table cell: floats rounded, the rest as written."""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "" if value is None else str(value)


def mean_std_table(rows: list[dict], title: str) -> Table:
    """`summary.json`-style rows (`<metric>_mean`, `<metric>_std`) as one `mean ± std` column per metric."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    metrics = [key[: -len("_mean")] for key in keys if key.endswith("_mean")]
    plain = [key for key in keys if not key.endswith(("_mean", "_std"))]
    cells = []
    for row in rows:
        line = [number(row.get(key)) for key in plain]
        for metric in metrics:
            mean, std = row.get(f"{metric}_mean"), row.get(f"{metric}_std")
            line.append("" if mean is None else number(mean) + ("" if not std else f" ± {number(std)}"))
        cells.append(line)
    return Table(title, plain + metrics, cells)


def figures_in(folder: Path, *patterns: str) -> list[Path]:
    """The command's PNG plots in `folder`, in a stable order."""
    found = []
    for pattern in patterns or ("*.png",):
        found += sorted(path for path in folder.glob(pattern) if path.is_file() and path not in found)
    return found
