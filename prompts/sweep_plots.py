"""Plots of a sweep: accuracy against the number of shots, and against model size (the "emergence" plot)."""

from __future__ import annotations

from pathlib import Path

from finetune_toolkit.core.plotting import pyplot, save_figure

from .summary import summarise


def _series_label(key: dict, varying: list[str]) -> str:
    parts = [f"{name}={key[name]}" for name in varying]
    parts.append("calibrated" if key["calibrated"] else "uncalibrated")
    return ", ".join(parts)


def plot_accuracy_vs_shots(rows: list[dict], path: str | Path) -> Path:
    """Mean accuracy against shots, one line per model/template/selection and calibration, a band of ±1 std over seeds."""
    plt = pyplot()
    summary = summarise(rows)
    varying = [name for name in ("model", "template", "selection") if len({s[name] for s in summary}) > 1]
    series: dict[tuple, list[dict]] = {}
    for entry in summary:
        series.setdefault(tuple(entry[n] for n in ("model", "template", "selection", "calibrated")), []).append(entry)
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for entries in series.values():
        entries.sort(key=lambda e: e["shots"])
        shots = [e["shots"] for e in entries]
        mean = [e["accuracy_mean"] for e in entries]
        std = [e["accuracy_std"] for e in entries]
        style = "--" if entries[0]["calibrated"] else "-"
        (line,) = axes.plot(shots, mean, style, marker="o", label=_series_label(entries[0], varying))
        axes.fill_between(shots, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                          color=line.get_color(), alpha=0.15)
    seeds = max(e["seeds"] for e in summary)
    axes.set(xlabel="demonstrations (shots)", ylabel="accuracy",
             title=f"Accuracy vs shots (mean ± std over {seeds} seed{'s' if seeds > 1 else ''})")
    axes.set_xticks(sorted({e["shots"] for e in summary}))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return save_figure(figure, path)


def plot_accuracy_vs_model_size(rows: list[dict], path: str | Path) -> Path:
    """Against parameter count (log scale), one line per shots and calibration: mean accuracy (left) and, for the
    same predictions, a continuous metric (right): the correct answer's log-probability when labels are scored,
    the token edit distance when answers are generated. A jump on the left with a smooth rise on the right is the
    "mirage" of Schaeffer et al. 2023."""
    plt = pyplot()
    summary = summarise(rows)
    series: dict[tuple, list[dict]] = {}
    for entry in summary:
        series.setdefault((entry["template"], entry["selection"], entry["shots"], entry["calibrated"]), []).append(entry)
    continuous = next((m for m in ("correct_answer_log_prob", "token_edit_distance", "correct_label_prob")
                       if any(f"{m}_mean" in e for e in summary)), None)
    figure, all_axes = plt.subplots(1, 2 if continuous else 1, figsize=(12 if continuous else 6.4, 4.2), squeeze=False)
    panels = [("accuracy", "accuracy", "Accuracy vs model size (discontinuous)")]
    if continuous:
        panels.append((continuous, continuous.replace("_", " "), "The same predictions, continuous metric"))
    for axes, (metric, ylabel, title) in zip(all_axes[0], panels):
        for (template, selection, shots, calibrated), entries in sorted(series.items(), key=lambda item: item[0][2]):
            entries = sorted((e for e in entries if f"{metric}_mean" in e), key=lambda e: e["parameters"])
            if not entries:
                continue
            sizes = [e["parameters"] for e in entries]
            mean = [e[f"{metric}_mean"] for e in entries]
            std = [e[f"{metric}_std"] for e in entries]
            label = f"{shots}-shot" + (", calibrated" if calibrated else "")
            (line,) = axes.plot(sizes, mean, "--" if calibrated else "-", marker="o", label=label)
            axes.fill_between(sizes, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                              color=line.get_color(), alpha=0.15)
        axes.set_xscale("log")
        axes.set(xlabel="parameters", ylabel=ylabel, title=title)
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=8)
    return save_figure(figure, path)
