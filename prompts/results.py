"""The results files of a sweep, rebuilt from its finished runs: results.csv and results.json (one row per run
and calibration), summary.json (means and spreads over seeds) and the plots.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from finetune_toolkit.core.outputs import atomic_write_json, atomic_write_text

from .fewshot_metrics import continuous_scores, fewshot_scores
from .sweep_plots import plot_metric_vs_model_size, plot_metric_vs_shots
from .summary import summarise

RESULT_FILES = ("results.csv", "results.json", "summary.json", "accuracy_vs_shots.png", "accuracy_vs_model_size.png",
                "exact_match_vs_shots.png", "exact_match_vs_model_size.png")

def run_rows(base: dict, result, labels: list[int], label_names: list[str]) -> list[dict]:
    """The table rows of one run: `base` (model, shots, timing, ...) with its scores, uncalibrated and calibrated."""
    if result.answers is not None:
        base = {**base, "unmappable": result.unmappable}
    rows = [{**base, "calibrated": False, **fewshot_scores(result.predictions, labels, label_names),
             **continuous_scores(result, labels)}]
    if result.calibrated_predictions is not None:
        rows.append({**base, "calibrated": True, **fewshot_scores(result.calibrated_predictions, labels, label_names),
                     **continuous_scores(result, labels, calibrated=True)})
    return rows


def demonstration_fields(result, pool, i: int) -> dict:
    """Example i's demonstrations (pool indices), the labels they showed and their true labels."""
    chosen = result.demonstrations[i]
    entry = {"demonstrations": chosen}
    if pool is not None and result.shown_labels is not None:
        entry.update(shown_labels=result.shown_labels[i], demonstration_labels=[pool.labels[j] for j in chosen])
    return entry


def prediction_rows(result, labels: list[int], pool=None, spans: list[list] | None = None) -> list[dict]:
    """One row per example for `predictions/<run>.jsonl`: label, prediction(s), the prompt (and its parts' `spans`,
    `PromptBuilder.prompt_spans`), probabilities and each label's log-probability, demonstrations (with the labels
    they showed and their true ones)."""
    rows = []
    for i, label in enumerate(labels):
        entry = {"index": i, "label": label, "prediction": result.predictions[i], **demonstration_fields(result, pool, i)}
        if result.prompts is not None:
            entry["prompt"] = result.prompts[i]
        if spans is not None:
            entry["prompt_spans"] = spans[i]
        if result.probabilities is not None:
            entry["probabilities"] = [round(p, 6) for p in result.probabilities[i]]
        if result.label_log_probs is not None:
            entry["label_log_probs"] = [round(p, 6) for p in result.label_log_probs[i]]
        if result.calibrated_predictions is not None:
            entry["calibrated_prediction"] = result.calibrated_predictions[i]
            entry["calibrated_probabilities"] = [round(p, 6) for p in result.calibrated_probabilities[i]]
        if result.answers is not None:
            entry["answer"] = result.answers[i]
        rows.append(entry)
    return rows


def result_rows(runs: list, records: dict) -> list[dict]:
    """The table's rows: each finished run's rows with its selection and seed, in sweep order. A zero-shot run has
    no demonstrations to select, so it is one record for every seed and selection and reported once, with
    selection "none" and no seed."""
    rows, reported = [], set()
    for run in runs:
        if run.key in records and run.key not in reported:
            reported.add(run.key)
            shared = run.shots == 0 and run.selection != "indices"
            selection, seed = ("none", None) if shared else (run.selection, run.seed)
            rows += [{**row, "selection": selection, "seed": seed} for row in records[run.key]["rows"]]
    return rows


COLUMNS = ("model", "parameters", "template", "type", "selection", "shots", "seed", "calibrated")


def write_results(output_dir: Path, rows: list[dict], plots: bool = False) -> None:
    """results.csv, results.json and summary.json (atomically); with `plots`, the PNG plots too."""
    if not rows:
        return
    extra = [name for row in rows for name in row if name not in COLUMNS]
    columns = list(COLUMNS) + list(dict.fromkeys(extra))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(output_dir / "results.csv", buffer.getvalue())
    atomic_write_json(output_dir / "results.json", rows)
    atomic_write_json(output_dir / "summary.json", summarise(rows))
    if plots:
        metric = "exact_match" if rows[0].get("type") == "generation" else "accuracy"
        plot_metric_vs_shots(rows, output_dir / f"{metric}_vs_shots.png", metric)
        if len({row["model"] for row in rows}) > 1:
            plot_metric_vs_model_size(rows, output_dir / f"{metric}_vs_model_size.png", metric)
