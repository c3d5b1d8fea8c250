"""What a sweep writes about its demonstrations when it varies them: the orders' spread (`orders.csv`, `orders.png`),
the consistency between runs that differ in one factor (`consistency.csv`), and the condition plots: accuracy
against the share of correct labels (`accuracy_vs_correct_fraction.png`, Min et al. 2022) and under gold, flipped
and unrelated labels (`label_conditions.png`, Wei et al. 2023). Each plot puts a continuous measure of the same
predictions (the right answer's probability) beside the accuracy."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from finetune_toolkit.core.outputs import atomic_write_text
from finetune_toolkit.core.plotting import pyplot, save_figure

from .consistency import consistency_rows, consistency_summary
from .order_study import order_spread
from .summary import CONTINUOUS, summarise

STUDY_FILES = ("orders.csv", "orders.png", "consistency.csv", "accuracy_vs_correct_fraction.png", "label_conditions.png",
               "order_choice", "order_choice.csv")


def write_studies(output_dir: Path, rows: list[dict], predictions: dict[str, dict], metric: str) -> str:
    """Every study file the rows call for; returns the summary lines (consistency, the entropy-chosen orders), "" when
    there is nothing to say. `predictions`: run key -> {the run's fields, `predictions`, `calibrated_predictions`}."""
    spread = order_spread(rows, metric)
    if spread:
        _write_csv(output_dir / "orders.csv", spread)
        plot_order_strips(rows, output_dir / "orders.png", metric)
    conditions = {row.get("condition", "gold") for row in rows if row["shots"] > 0}
    if any(name.startswith("correct=") for name in conditions):
        plot_correct_fraction(rows, output_dir / "accuracy_vs_correct_fraction.png", metric)
    if len({name.split("+")[0] for name in conditions if not name.startswith("correct=")}) > 1:
        plot_label_conditions(rows, output_dir / "label_conditions.png", metric)
    pairs = consistency_rows(list(predictions.values()))
    if pairs:
        _write_csv(output_dir / "consistency.csv", pairs)
    lines = [consistency_summary(pairs)] if pairs else []
    choices = [row for path in sorted((output_dir / "order_choice").glob("*.json"))
               for row in json.loads(path.read_text(encoding="utf-8"))]
    if choices:
        _write_csv(output_dir / "order_choice.csv", choices)
        for statistic in sorted({row["statistic"] for row in choices}):
            mine = [row for row in choices if row["statistic"] == statistic]
            lines.append(f"order chosen by {statistic} (Lu et al. 2022): accuracy "
                         f"{sum(r['chosen_accuracy'] for r in mine) / len(mine):.4f} against the orders' mean "
                         f"{sum(r['mean_accuracy'] for r in mine) / len(mine):.4f} over {len(mine)} set(s)")
    return "\n".join(lines)


def run_predictions(output_dir: Path, run) -> dict:
    """A finished run's fields and per-example predictions (from `predictions/<key>.jsonl`), for `consistency_rows`."""
    lines = (output_dir / "predictions" / f"{run.key}.jsonl").read_text(encoding="utf-8").splitlines()
    examples = [json.loads(line) for line in lines]
    calibrated = [e["calibrated_prediction"] for e in examples] if examples and "calibrated_prediction" in examples[0] else None
    return {"model": run.model, "template": run.template, "selection": run.selection, "shots": run.shots,
            "seed": run.seed, "condition": run.condition.name, "order": run.order,
            "predictions": [e["prediction"] for e in examples], "calibrated_predictions": calibrated}


def _write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(name for row in rows for name in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _continuous(summary: list[dict]) -> str | None:
    return next((m for m in CONTINUOUS if any(f"{m}_mean" in e for e in summary)), None)


def _panels(summary: list[dict], metric: str, plt, width: float = 6.0):
    continuous = _continuous(summary)
    names = [metric] + ([continuous] if continuous else [])
    figure, axes = plt.subplots(1, len(names), figsize=(width * len(names), 4.2), squeeze=False)
    return figure, list(zip(axes[0], names))


def plot_correct_fraction(rows: list[dict], path: Path, metric: str = "accuracy") -> Path:
    """Mean metric (± std over seeds) against the share of demonstrations with their gold label, one line per model
    and shots; gold labels count as 1, and the 0-shot result is a dashed line (Min et al. 2022, Figure 4)."""
    plt = pyplot()
    summary = [e for e in summarise(rows) if not e["calibrated"]]
    figure, panels = _panels(summary, metric, plt)
    for axes, name in panels:
        for (model, shots) in sorted({(e["model"], e["shots"]) for e in summary if e["shots"] > 0}):
            points = []
            for entry in summary:
                fraction = _fraction(entry["condition"])
                if entry["model"] == model and entry["shots"] == shots and fraction is not None and f"{name}_mean" in entry:
                    points.append((fraction, entry[f"{name}_mean"], entry[f"{name}_std"]))
            points.sort()
            if points:
                line, = axes.plot([100 * p[0] for p in points], [p[1] for p in points], marker="o", label=f"{_short(model)}, {shots}-shot")
                axes.fill_between([100 * p[0] for p in points], [p[1] - p[2] for p in points], [p[1] + p[2] for p in points],
                                  color=line.get_color(), alpha=0.15)
            zero = [e for e in summary if e["model"] == model and e["shots"] == 0 and f"{name}_mean" in e]
            if zero:
                axes.axhline(zero[0][f"{name}_mean"], color=line.get_color() if points else None, linestyle="--", linewidth=1,
                             label=f"{_short(model)}, no demonstrations")
        axes.set(xlabel="demonstrations with their gold label (%)", ylabel=name.replace("_", " "),
                 title=f"{name.replace('_', ' ').capitalize()} vs correct labels")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return save_figure(figure, path)


def plot_label_conditions(rows: list[dict], path: Path, metric: str = "accuracy") -> Path:
    """The metric under each label condition (gold, random, flipped, unrelated, ...): against parameters with one line
    per condition when several models ran (Wei et al. 2023, Figures 2 and 4), else one bar per condition."""
    plt = pyplot()
    summary = [e for e in summarise(rows) if not e["calibrated"] and e["shots"] > 0 and _fraction(e["condition"]) is None]
    models = sorted({e["model"] for e in summary}, key=lambda m: next(e["parameters"] for e in summary if e["model"] == m))
    conditions = list(dict.fromkeys(e["condition"] for e in summary))
    figure, panels = _panels(summary, metric, plt)
    for axes, name in panels:
        for shots in sorted({e["shots"] for e in summary}):
            for index, condition in enumerate(conditions):
                entries = [e for e in summary if e["condition"] == condition and e["shots"] == shots and f"{name}_mean" in e]
                entries.sort(key=lambda e: e["parameters"])
                if not entries:
                    continue
                label = f"{condition}, {shots}-shot"
                if len(models) > 1:
                    axes.errorbar([e["parameters"] for e in entries], [e[f"{name}_mean"] for e in entries],
                                  yerr=[e[f"{name}_std"] for e in entries], marker="o", capsize=3, label=label)
                else:
                    axes.bar(f"{condition}\n{shots}-shot", entries[0][f"{name}_mean"], yerr=entries[0][f"{name}_std"], capsize=3)
        if len(models) > 1:
            axes.set_xscale("log")
            axes.legend(fontsize=8)
        axes.set(xlabel="parameters" if len(models) > 1 else "label condition", ylabel=name.replace("_", " "),
                 title=f"{name.replace('_', ' ').capitalize()} by demonstration labels" +
                       ("" if len(models) > 1 else f" ({_short(models[0])})"))
        axes.grid(alpha=0.3)
    return save_figure(figure, path)


def plot_order_strips(rows: list[dict], path: Path, metric: str = "accuracy") -> Path:
    """One strip per demonstration set (seed): the metric of each of its orders as a dot, the mean as a bar
    (Lu et al. 2022, Figure 1), per model, shots and condition."""
    plt = pyplot()
    ordered = [row for row in rows if row.get("order") is not None and not row["calibrated"]]
    figure, panels = _panels(summarise(ordered), metric, plt)
    series = sorted({(r["model"], r["shots"], r.get("condition", "gold")) for r in ordered})
    for axes, name in panels:
        for offset, (model, shots, condition) in enumerate(series):
            members = [r for r in ordered if (r["model"], r["shots"], r.get("condition", "gold")) == (model, shots, condition)
                       and r.get(name) is not None]
            seeds = sorted({r["seed"] for r in members})
            for position, seed in enumerate(seeds):
                values = [r[name] for r in members if r["seed"] == seed]
                x = position + 0.8 * offset / max(1, len(series))
                axes.scatter([x] * len(values), values, s=12, alpha=0.6,
                             label=f"{_short(model)}, {shots}-shot, {condition}" if position == 0 else None)
                axes.hlines(sum(values) / len(values), x - 0.1, x + 0.1, color="black")
            axes.set_xticks(range(len(seeds)), [f"set {seed}" for seed in seeds])
        axes.set(xlabel="demonstration set (seed)", ylabel=name.replace("_", " "),
                 title=f"{name.replace('_', ' ').capitalize()} over demonstration orders")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return save_figure(figure, path)


def _fraction(condition: str) -> float | None:
    """The share of correct labels a condition shows: 1 for gold, p for correct=p, None for the others."""
    if condition == "gold":
        return 1.0
    match = re.fullmatch(r"correct=([0-9.]+)", condition)
    return float(match.group(1)) if match else None


def _short(model: str) -> str:
    return Path(model.rstrip("/")).name or model
