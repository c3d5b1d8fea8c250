"""The report of a few-shot sweep (`finetune-toolkit fewshot`, `reproduce --preset`) and of the per-example files of
`compare`: `predictions/<run>.jsonl` as `prompts.results` and `prompts.run_kinds` write them."""

from __future__ import annotations

import re
from pathlib import Path

from finetune_toolkit.core.errors import UserError

from .examples import choice_row, generation_row, option_rows
from .reading import Report, csv_table, figures_in, flatten, mean_std_table, read_json, read_jsonl

STUDY_TABLES = {"orders.csv": "Accuracy over the orders of each demonstration set",
                "consistency.csv": "Consistency between runs that differ in one factor (Cohen's kappa)",
                "order_choice.csv": "Orders chosen without labels against the orders' mean"}


def is_sweep(folder: Path) -> bool:
    return (folder / "runs").is_dir() and (folder / "predictions").is_dir() and (folder / "summary.json").is_file()


def natural_key(name: str) -> list:
    """`8shot` before `16shot`: digits compared as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def load_sweep(folder: Path) -> Report:
    """Settings from `plan.json`, the mean ± std table from `summary.json`, the plots, and each finished run's examples."""
    plan = read_json(folder / "plan.json") if (folder / "plan.json").is_file() else {}
    report = Report("fewshot", f"Few-shot sweep: {folder.name}", settings=flatten(plan))
    report.tables.append(mean_std_table(read_json(folder / "summary.json"), "Results (mean ± std over seeds)"))
    for name, title in STUDY_TABLES.items():
        if (folder / name).is_file():
            report.tables.append(csv_table(folder / name, title))
    report.figures = figures_in(folder)
    keys = sorted((path.stem for path in (folder / "runs").glob("*.json")), key=natural_key)
    if not keys:
        raise UserError(f"{folder} holds no finished run (runs/ is empty); run the sweep first")
    for key in keys:
        record = read_json(folder / "runs" / f"{key}.json")
        predictions = read_jsonl(folder / "predictions" / f"{key}.jsonl")
        expected = (record.get("rows") or [{}])[0].get("examples")
        if expected is not None and expected != len(predictions):
            raise UserError(f"{folder / 'predictions' / (key + '.jsonl')} holds {len(predictions)} examples, its run "
                            f"evaluated {expected}: the file is incomplete; run the sweep again with --overwrite_output_dir")
        add_prediction_runs(report, key, predictions, record.get("kind"), record.get("label_names"))
    return report


def kind_of(rows: list[dict], kind: str | None) -> str:
    if kind:
        return kind
    if rows and "options" in rows[0]:
        return "multiple_choice"
    return "generation" if rows and "reference" in rows[0] else "classification"


def add_prediction_runs(report: Report, name: str, rows: list[dict], kind: str | None = None,
                        label_names: list[str] | None = None) -> None:
    """One run's predictions file as page rows (two runs, plain and calibrated, when it holds both)."""
    kind = kind_of(rows, kind)
    if kind == "multiple_choice":
        report.add_run(name, kind, [_choice(report, row, row["options"], row.get("option_log_probs"), row.get("probabilities"),
                                            row["prediction"]) for row in rows])
    elif kind == "generation":
        report.add_run(name, kind, [
            generation_row(report.next_run, row["index"], row.get("prompt", ""), row.get("prompt_spans"), row["prediction"],
                           row["reference"], report.contexts, correct=_flag(row.get("exact_match")),
                           scores={"exact_match": row["exact_match"]} if "exact_match" in row else None, extra=_extra(row))
            for row in rows])
    else:
        count = len((rows[0].get("probabilities") or rows[0].get("label_log_probs") or [])) if rows else 0
        names = label_names or [str(i) for i in range(count)]
        report.add_run(name, kind, [_label(report, row, names, calibrated=False) for row in rows])
        if rows and "calibrated_prediction" in rows[0]:
            report.add_run(f"{name} (calibrated)", kind, [_label(report, row, names, calibrated=True) for row in rows])


def _flag(value) -> bool | None:
    return None if value is None else bool(value)


def _choice(report: Report, row: dict, names: list[str], log_probs, probabilities, predicted: int,
            shown_names: list[str] | None = None) -> dict:
    options = option_rows(names, log_probs, probabilities) if (log_probs or probabilities) else \
        [[str(name), None, None] for name in names]
    gold = row.get("label")
    return choice_row(report.next_run, row["index"], row.get("prompt", ""), row.get("prompt_spans"), options,
                      gold if isinstance(gold, int) else None, predicted, report.contexts, _extra(row, shown_names))


def _label(report: Report, row: dict, names: list[str], calibrated: bool) -> dict:
    """A classification example: scored (probabilities), or generated and mapped to a label (`answer`)."""
    if calibrated:
        page_row = _choice(report, row, names, None, row["calibrated_probabilities"], row["calibrated_prediction"], names)
    else:
        page_row = _choice(report, row, names, row.get("label_log_probs"), row.get("probabilities"), row["prediction"], names)
    if "answer" in row:
        page_row["x"]["generated answer"] = row["answer"]
    return page_row


def _extra(row: dict, names: list[str] | None = None) -> dict:
    """What the predictions file says of the example besides its scores: condition, order, demonstrations."""
    def shown(labels):
        if names is None:
            return ", ".join(map(str, labels))
        return ", ".join(names[label] if isinstance(label, int) and 0 <= label < len(names) else str(label) for label in labels)

    extra = {}
    for key in ("condition", "order"):
        if row.get(key) is not None:
            extra[key] = str(row[key])
    if row.get("demonstrations"):
        extra["demonstrations (pool indices)"] = ", ".join(map(str, row["demonstrations"]))
    if row.get("shown_labels"):
        extra["labels shown"] = shown(row["shown_labels"])
        extra["their true labels"] = shown(row.get("demonstration_labels", []))
    if "prediction_norm" in row:
        extra["prediction by log-probability per character"] = str(row["prediction_norm"])
    return extra
