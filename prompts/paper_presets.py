"""Three in-context-learning papers as one sweep each, and a report of whether this model shows their finding.

`finetune-toolkit reproduce --preset min2022 | wei2023 | lu2022` runs the preset's sweep (`prompts.sweep`) and
writes `report.md`: the paper's claim, the run's numbers and one plain sentence on what this run shows. The presets
are scaled to run in minutes on a CPU (fewer shots, seeds and examples than the papers; the report says so).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable

from .summary import summarise


@dataclass(frozen=True)
class PaperPreset:
    title: str
    claim: str
    flags: tuple[str, ...]
    scale: str
    verdict: Callable[[list[dict]], list[str]]


def _mean(rows: list[dict], condition: str, shots: int | None = None, metric: str = "accuracy") -> float | None:
    values = [r[metric] for r in rows if not r["calibrated"] and r.get("condition", "gold") == condition
              and (r["shots"] > 0 if shots is None else r["shots"] == shots) and r.get(metric) is not None]
    return statistics.fmean(values) if values else None


def _points(value: float) -> str:
    return f"{100 * value:.1f}"


def _min_verdict(rows: list[dict]) -> list[str]:
    gold, random, none = _mean(rows, "gold"), _mean(rows, "random"), _mean(rows, "gold", shots=0)
    gap = gold - random
    effect = f"cost {_points(gap)} points" if gap >= 0 else f"did {_points(-gap)} points better than gold labels"
    lines = [f"Gold labels: accuracy {_points(gold)}%; random labels: {_points(random)}%; no demonstrations: "
             f"{_points(none)}%. Random labels {effect}."]
    fractions = sorted((float(c.split("=")[1]), _mean(rows, c)) for c in {r.get("condition") for r in rows}
                       if c and c.startswith("correct="))
    if fractions:
        lines.append("Share of correct labels -> accuracy: " + ", ".join(f"{int(100 * f)}%: {_points(a)}%" for f, a in fractions)
                     + f", 100%: {_points(gold)}%.")
    shows = gap <= 0.05
    lines.append(f"This run {'shows' if shows else 'does not show'} the finding: random labels cost "
                 f"{'at most' if shows else 'more than'} 5 points against gold labels; separately, demonstrations "
                 f"{'beat' if min(gold, random) > none else 'do not beat'} no demonstrations here.")
    return lines


def _wei_verdict(rows: list[dict]) -> list[str]:
    gold, flipped, unrelated = (_mean(rows, c) for c in ("gold", "flipped", "unrelated"))
    lines = [f"Gold labels: accuracy {_points(gold)}%; flipped labels: {_points(flipped)}%; semantically unrelated labels: "
             f"{_points(unrelated)}%."]
    if flipped < 0.5:
        lines.append(f"With flipped labels the model's accuracy falls below 50% ({_points(flipped)}%): it follows the "
                     "demonstrations against its prior, which the paper finds only in large models.")
    else:
        lines.append(f"With flipped labels the model stays above 50% ({_points(flipped)}%): it keeps its prior instead of "
                     "following the flipped demonstrations, the null result the paper expects of a small model.")
    lines.append(f"Unrelated labels cost {_points(gold - unrelated)} points against gold labels (the paper: small models "
                 "lose much more than large ones, which learn the mapping from the demonstrations).")
    return lines


def _lu_verdict(rows: list[dict]) -> list[str]:
    ordered = [r for r in rows if r.get("order") is not None and not r["calibrated"]]
    lines = []
    for seed in sorted({r["seed"] for r in ordered}):
        values = [r["accuracy"] for r in ordered if r["seed"] == seed]
        lines.append(f"Set {seed}: {len(values)} orders, accuracy {_points(min(values))}% to {_points(max(values))}% "
                     f"(mean {_points(statistics.fmean(values))}%, std {_points(statistics.pstdev(values))} points).")
    spread = max(r["accuracy"] for r in ordered) - min(r["accuracy"] for r in ordered)
    shows = spread >= 0.10
    lines.append(f"This run {'shows' if shows else 'does not show'} the finding: the orders of the same demonstrations "
                 f"span {_points(spread)} points ({'at least' if shows else 'less than'} 10).")
    return lines


PAPER_PRESETS = {
    "min2022": PaperPreset(
        title="Min et al. 2022, \"Rethinking the Role of Demonstrations: What Makes In-Context Learning Work?\" "
              "(arXiv:2202.12837)",
        claim="Replacing the demonstrations' gold labels with random labels barely hurts (0-5 points absolute across "
              "models and tasks); what matters is the input distribution, the label space and the format.",
        flags=("--shots", "0", "8", "--num_seeds", "3", "--selection", "random", "--demo_labels", "gold", "random",
               "--correct_fraction", "0.5", "0"),
        scale="k = 8 demonstrations and 3 seeds (the paper: k = 16 and 5 seeds)",
        verdict=_min_verdict),
    "wei2023": PaperPreset(
        title="Wei et al. 2023, \"Larger language models do in-context learning differently\" (arXiv:2303.03846)",
        claim="Small models ignore flipped demonstration labels and keep their semantic prior; the ability to follow "
              "flipped labels (accuracy below chance) emerges with scale. With semantically unrelated labels, small "
              "models lose much of their accuracy.",
        flags=("--shots", "8", "--num_seeds", "3", "--selection", "balanced", "--demo_labels", "gold", "flipped", "unrelated"),
        scale="k = 8 class-balanced demonstrations and 3 seeds, one model (the paper sweeps model sizes)",
        verdict=_wei_verdict),
    "lu2022": PaperPreset(
        title="Lu et al. 2022, \"Fantastically Ordered Prompts and Where to Find Them\" (arXiv:2104.08786)",
        claim="The same demonstrations in different orders range from near chance to near the best accuracy; an order "
              "chosen without labels by the entropy of the model's predictions on a probing set it generates (GlobalE, "
              "LocalE) beats the average order.",
        flags=("--shots", "4", "--num_seeds", "2", "--selection", "random", "--orders", "all", "--ordering", "global_entropy"),
        scale="k = 4 demonstrations in all 24 orders, 2 demonstration sets",
        verdict=_lu_verdict),
}


def write_report(preset: str, rows: list[dict], extra_lines: list[str], model: str, data: str) -> str:
    """The report's Markdown: claim, settings, the run's table (mean ± std over seeds) and what this run shows."""
    paper = PAPER_PRESETS[preset]
    summary = [s for s in summarise(rows) if not s["calibrated"]]
    table = ["| shots | condition | accuracy (mean ± std) | probability of the right label | runs |", "|---|---|---|---|---|"]
    for entry in sorted(summary, key=lambda s: (s["shots"], s["condition"])):
        probability = entry.get("correct_label_prob_mean")
        table.append(f"| {entry['shots']} | {entry['condition']} | {entry['accuracy_mean']:.4f} ± {entry['accuracy_std']:.4f} | "
                     f"{'' if probability is None else f'{probability:.4f}'} | {entry['seeds']} |")
    lines = [f"# {paper.title}", "", f"**The paper's claim.** {paper.claim}", "",
             f"**This run.** Model `{model}`, data {data}, {paper.scale}. Numbers below are this run's, not the paper's.",
             "", *table, "", "**What this run shows.**", "", *[f"- {line}" for line in paper.verdict(rows) + extra_lines], ""]
    return "\n".join(lines)
