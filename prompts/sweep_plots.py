"""Plots of a sweep: its leading metric against the number of shots, and against model size (the "emergence" plot),
with a continuous metric of the same predictions beside it."""

from __future__ import annotations

from pathlib import Path

from finetune_toolkit.core.plotting import pyplot, save_figure

from .summary import CONTINUOUS, summarise


def _series_label(key: dict, varying: list[str]) -> str:
    parts = [f"{name}={key[name]}" for name in varying]
    parts.append("calibrated" if key["calibrated"] else "uncalibrated")
    return ", ".join(parts)


def _by_series(summary: list[dict], names: tuple[str, ...]) -> dict[tuple, list[dict]]:
    """Summary entries per series; the zero-shot entry (selection "none") joins every selection's series."""
    series: dict[tuple, list[dict]] = {}
    shared = [e for e in summary if e["selection"] == "none"]
    for entry in summary:
        if entry["selection"] != "none":
            series.setdefault(tuple(entry[n] for n in names), []).append(entry)
    for entry in shared:
        keys = [key for key in series if all(entry[n] == k for n, k in zip(names, key) if n not in ("selection", "condition"))]
        for key in keys or [tuple(entry[n] for n in names)]:
            series.setdefault(key, []).append(entry)
    return series


def plot_metric_vs_shots(rows: list[dict], path: str | Path, metric: str = "accuracy") -> Path:
    """Mean `metric` against shots, one line per model/template/selection and calibration, a band of ±1 std over seeds."""
    plt = pyplot()
    summary = summarise(rows)
    selections = {s["selection"] for s in summary} - {"none"}
    varying = [name for name in ("model", "template") if len({s[name] for s in summary}) > 1]
    varying += ["selection"] if len(selections) > 1 else []
    varying += ["condition"] if len({s["condition"] for s in summary}) > 1 else []
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for entries in _by_series(summary, ("model", "template", "selection", "condition", "calibrated")).values():
        entries = sorted((e for e in entries if f"{metric}_mean" in e), key=lambda e: e["shots"])
        if not entries:
            continue
        shots = [e["shots"] for e in entries]
        mean = [e[f"{metric}_mean"] for e in entries]
        std = [e[f"{metric}_std"] for e in entries]
        key = next((e for e in entries if e["selection"] != "none"), entries[0])
        (line,) = axes.plot(shots, mean, "--" if key["calibrated"] else "-", marker="o", label=_series_label(key, varying))
        axes.fill_between(shots, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                          color=line.get_color(), alpha=0.15)
    seeds = max(e["seeds"] for e in summary)
    label = metric.replace("_", " ")
    axes.set(xlabel="demonstrations (shots)", ylabel=label,
             title=f"{label.capitalize()} vs shots (mean ± std over {seeds} seed{'s' if seeds > 1 else ''})")
    axes.set_xticks(sorted({e["shots"] for e in summary}))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return save_figure(figure, path)


def plot_metric_vs_model_size(rows: list[dict], path: str | Path, metric: str = "accuracy") -> Path:
    """Against parameter count (log scale), one line per template, selection, shots and calibration: mean `metric`
    (left) and, for the same predictions, a continuous metric (right): the correct answer's log-probability when
    labels are scored, the right option's probability for multiple choice, the token edit distance when answers
    are generated. A jump on the left with a smooth change on the right is the "mirage" of Schaeffer et al. 2023."""
    plt = pyplot()
    summary = summarise(rows)
    summary = [entry for entry in summary if entry["condition"] == "gold"]  # conditions: studies.plot_label_conditions
    series = _by_series(summary, ("template", "selection", "shots", "calibrated"))
    continuous = next((m for m in CONTINUOUS if any(f"{m}_mean" in e for e in summary)), None)
    figure, all_axes = plt.subplots(1, 2 if continuous else 1, figsize=(12 if continuous else 6.4, 4.2), squeeze=False)
    panels = [(metric, f"{metric.replace('_', ' ').capitalize()} vs model size (discontinuous)")]
    if continuous:
        panels.append((continuous, "The same predictions, continuous metric"))
    templates, selections = ({e[name] for e in summary} for name in ("template", "selection"))
    for axes, (name, title) in zip(all_axes[0], panels):
        for (template, selection, shots, calibrated), entries in sorted(series.items(), key=lambda item: item[0][2]):
            entries = sorted((e for e in entries if f"{name}_mean" in e), key=lambda e: e["parameters"])
            if not entries:
                continue
            sizes = [e["parameters"] for e in entries]
            mean = [e[f"{name}_mean"] for e in entries]
            std = [e[f"{name}_std"] for e in entries]
            label = f"{shots}-shot" + (", calibrated" if calibrated else "")
            label += f", {template}" if len(templates) > 1 else ""
            label += f", {selection}" if len(selections - {"none"}) > 1 and shots else ""
            (line,) = axes.plot(sizes, mean, "--" if calibrated else "-", marker="o", label=label)
            axes.fill_between(sizes, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                              color=line.get_color(), alpha=0.15)
        axes.set_xscale("log")
        axes.set(xlabel="parameters", ylabel=name.replace("_", " "), title=title)
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=8)
    return save_figure(figure, path)
