"""The comparison's plot: validation accuracy against trainable parameters, training seconds in the labels."""

from __future__ import annotations

import io
from pathlib import Path

from toolkit.outputs import atomic_write_bytes


def plot_accuracy_vs_parameters(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """One point per method; prompting methods (no trained parameters) sit at the left edge, marked "0"."""
    import matplotlib  # imported on first plot: slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        x = max(row["trainable_parameters"], 1)
        trained = row["trainable_parameters"] > 0
        axis.scatter([x], [row["accuracy"]], s=60, marker="o" if trained else "s", color="tab:blue" if trained else "tab:orange")
        note = f"{row['method']}\n{row['train_seconds']:.0f} s training" if trained else row["method"]
        axis.annotate(note, (x, row["accuracy"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    axis.set_xscale("log")
    axis.set_xlabel("trainable parameters (log scale; prompting = 0, drawn at 1)")
    axis.set_ylabel("validation accuracy")
    axis.set_title(title or "adaptation methods")
    axis.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    return atomic_write_bytes(path, buffer.getvalue())
