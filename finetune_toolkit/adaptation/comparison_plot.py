"""The comparison's plot: the validation score (accuracy, ROUGE-L, ...) against trainable parameters, training seconds in the labels."""

from __future__ import annotations

from pathlib import Path

from finetune_toolkit.core.plotting import pyplot, save_figure


def plot_accuracy_vs_parameters(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """One point per method; prompting methods (no trained parameters) sit at the left edge, marked "0"."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    prompting = 0
    for row in rows:
        x = max(row["trainable_parameters"], 1)
        trained = row["trainable_parameters"] > 0
        axis.scatter([x], [row["score"]], s=60, marker="o" if trained else "s", color="tab:blue" if trained else "tab:orange")
        name = f"{row['method']} ({row['shots']}-shot)" if row.get("shots") else row["method"]
        if trained:
            note, offset = f"{name}: {row['score']:.3f}\n{row['train_seconds']:.0f} s training", (-20, -24)
        else:  # prompting methods share x = 1: stagger their labels
            note, offset = f"{name}: {row['score']:.3f}", (8, -4 + 11 * prompting)
            prompting += 1
        axis.annotate(note, (x, row["score"]), textcoords="offset points", xytext=offset, fontsize=8)
    low, high = axis.get_ylim()
    axis.set_ylim(low - 0.03, high + 0.02)
    axis.set_xlim(0.5, 10 * max(max(row["trainable_parameters"], 1) for row in rows))
    axis.set_xscale("log")
    axis.set_xlabel("trainable parameters (log scale; prompting = 0, drawn at 1)")
    axis.set_ylabel(f"validation {rows[0].get('metric', 'accuracy')}" if rows else "validation score")
    axis.set_title(title or "adaptation methods")
    axis.grid(True, alpha=0.3)
    return save_figure(figure, path)
