"""The ladder's plot: each measure against parameters, exact match beside the continuous measures."""

from __future__ import annotations

from pathlib import Path

from finetune_toolkit.core.plotting import pyplot, save_figure

from .addition import answer_length
from .answer_metrics import METRICS


def plot_ladder(result: dict, path: Path) -> Path:
    """Each measure against parameters (log scale): exact match (discontinuous) beside the three continuous ones."""
    plt = pyplot()
    rows = result["models"]
    parameters = [row["parameters"] for row in rows]
    figure, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    titles = {"exact_match": "exact match (discontinuous)", "token_accuracy": "per-token accuracy (continuous)",
              "token_edit_distance": "token edit distance (continuous, lower is better)",
              "correct_answer_log_prob": "log p(correct answer) (continuous)"}
    seeds = rows[0].get("seeds", 1)
    for axis, metric in zip(axes, METRICS):
        errors = [row[f"{metric}_std"] for row in rows] if seeds > 1 else None
        axis.errorbar(parameters, [row[metric] for row in rows], yerr=errors, marker="o", capsize=3,
                      color="C3" if metric == "exact_match" else "C0", label=f"mean ± std over {seeds} seeds" if seeds > 1 else None)
        if metric == "exact_match":  # Schaeffer et al.'s account: L independent tokens, each right with probability p
            length = answer_length(result["settings"]["digits"])
            axis.plot(parameters, [row["token_accuracy"] ** length for row in rows], linestyle="--", color="gray",
                      label=f"token accuracy ^ {length}")
        if seeds > 1 or metric == "exact_match":
            axis.legend(fontsize=8)
        value = result["sharpness"][metric]
        axis.set_title(f"{titles[metric]}\nsharpness {'n/a' if value is None else f'{value:.2f}'}", fontsize=9)
        axis.set_xscale("log")
        axis.set_xlabel("parameters")
        axis.grid(True, alpha=0.3)
    figure.suptitle(f"GPT-2s trained from scratch on {result['settings']['task']}: the same predictions, two kinds of metric",
                    fontsize=10, y=1.06)
    return save_figure(figure, path, dpi=110)
