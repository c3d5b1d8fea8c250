"""Mean ± std across seeds of the rows of a sweep."""

from __future__ import annotations

import statistics

GROUP_BY = ("model", "parameters", "template", "selection", "shots", "condition", "calibrated")
DEFAULTS = {"condition": "gold"}  # rows of sweeps written before demonstration conditions existed
# Every metric a row can carry, in table order: classification, multiple choice, generation (prompts.fewshot_metrics).
METRICS = ("accuracy", "accuracy_norm", "macro_f1", "exact_match", "correct_answer_log_prob", "correct_label_prob",
           "correct_option_prob", "brier_score", "token_edit_distance", "rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf")
# The continuous ("mirage") metrics, plotted beside the discontinuous ones; lower is better for the last two.
CONTINUOUS = ("correct_answer_log_prob", "correct_label_prob", "correct_option_prob", "token_edit_distance", "brier_score")
LOWER_IS_BETTER = ("token_edit_distance", "brier_score")


def summarise(rows: list[dict]) -> list[dict]:
    """One entry per model/template/selection/shots/demonstration condition/calibration: every metric the rows carry,
    mean and std over seeds (and over orders, in an order study)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(name, DEFAULTS.get(name)) for name in GROUP_BY), []).append(row)
    summary = []
    for key, members in groups.items():
        entry = dict(zip(GROUP_BY, key))
        entry["seeds"] = len(members)
        for metric in METRICS:
            values = [m[metric] for m in members if m.get(metric) is not None]
            if not values:
                continue
            entry[f"{metric}_mean"] = statistics.fmean(values)
            entry[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        summary.append(entry)
    return summary


def metrics_present(summary: list[dict]) -> list[str]:
    """The metrics that some summary entry has, in table order."""
    return [name for name in METRICS if any(f"{name}_mean" in entry for entry in summary)]


def summary_table_rows(summary: list[dict]) -> list[dict]:
    """Rows for printing: every metric as 'mean ± std' (the std over seeds; 0-shot runs have one)."""
    return [
        {"model": s["model"], "template": s["template"], "selection": s["selection"], "shots": s["shots"],
         **({"condition": s["condition"]} if any(e["condition"] != "gold" for e in summary) else {}),
         "calibrated": "yes" if s["calibrated"] else "no", "seeds": s["seeds"],
         **{name: f"{s[name + '_mean']:.4f} ± {s[name + '_std']:.4f}" for name in METRICS if name + "_mean" in s}}
        for s in summary
    ]
