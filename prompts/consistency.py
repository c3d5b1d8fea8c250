"""How consistent a model's predictions are when one factor of a run changes: Cohen's kappa and plain agreement
between the predictions of two runs that differ in that factor alone (the GenBench ICL-consistency protocol,
Weber et al. 2023, "Mind the instructions", arXiv:2311.08908).

Factors: the demonstrations' order, the seed (another demonstration set), the demonstration condition, and
calibration (each run's calibrated predictions against its own uncalibrated ones)."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter

FACTORS = ("order", "seed", "condition")
# What identifies a run apart from the factors.
RUN_FIELDS = ("model", "template", "selection", "shots", "seed", "condition", "order")


def cohen_kappa(first: list, second: list) -> float:
    """Cohen's kappa of two raters' labels on the same items: (p_o - p_e) / (1 - p_e), with p_e from each rater's
    own label frequencies; 1.0 when both give one and the same label everywhere."""
    if len(first) != len(second) or not first:
        raise ValueError("kappa needs two equally long, non-empty lists of labels")
    count = len(first)
    observed = sum(a == b for a, b in zip(first, second)) / count
    first_counts, second_counts = Counter(first), Counter(second)
    expected = sum(first_counts[label] * second_counts[label] for label in first_counts) / count ** 2
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def consistency_rows(runs: list[dict]) -> list[dict]:
    """`runs`: one dict per run with the `RUN_FIELDS` and its per-example `predictions` (and, when calibrated,
    `calibrated_predictions`). One row per pair of runs that differ in exactly one factor, and per calibrated run."""
    rows = []
    for factor in FACTORS:
        others = [name for name in RUN_FIELDS if name != factor]
        groups: dict[tuple, list[dict]] = {}
        for run in runs:
            groups.setdefault(tuple(run.get(name) for name in others), []).append(run)
        for members in groups.values():
            for a, b in itertools.combinations(members, 2):
                if a.get(factor) != b.get(factor):
                    rows.append(_pair_row(factor, a, b, a["predictions"], b["predictions"], a.get(factor), b.get(factor)))
    for run in runs:
        if run.get("calibrated_predictions") is not None:
            rows.append(_pair_row("calibration", run, run, run["predictions"], run["calibrated_predictions"], False, True))
    return rows


def _pair_row(factor: str, a: dict, b: dict, first: list, second: list, value_a, value_b) -> dict:
    shared = {name: a.get(name) for name in RUN_FIELDS if name != factor and a.get(name) == b.get(name)}
    return {"factor": factor, **shared, "a": value_a, "b": value_b, "examples": len(first),
            "agreement": sum(x == y for x, y in zip(first, second)) / len(first),
            "kappa": cohen_kappa([str(x) for x in first], [str(y) for y in second])}


def consistency_summary(rows: list[dict]) -> str:
    """One line: the mean kappa and agreement per factor, e.g. `order: kappa 0.71, agreement 0.88 (24 pairs); ...`."""
    parts = []
    for factor in (*FACTORS, "calibration"):
        members = [row for row in rows if row["factor"] == factor]
        if members:
            parts.append(f"{factor}: kappa {statistics.fmean(r['kappa'] for r in members):.3f}, agreement "
                         f"{statistics.fmean(r['agreement'] for r in members):.3f} ({len(members)} pair{'s' * (len(members) > 1)})")
    return "consistency between runs that differ in one factor: " + "; ".join(parts) if parts else ""
