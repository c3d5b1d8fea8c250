"""Mean ± std across seeds of the rows of a sweep."""

from __future__ import annotations

import statistics

GROUP_BY = ("model", "parameters", "template", "selection", "shots", "calibrated")
# The continuous ("mirage") metrics of prompts.fewshot_metrics.continuous_scores, summarised when present.
CONTINUOUS = ("correct_answer_log_prob", "correct_label_prob", "token_edit_distance", "exact_match")


def summarise(rows: list[dict]) -> list[dict]:
    """One entry per model/template/selection/shots/calibration: accuracy, macro F1 and the continuous metrics,
    mean and std over seeds."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[name] for name in GROUP_BY), []).append(row)
    summary = []
    for key, members in groups.items():
        entry = dict(zip(GROUP_BY, key))
        entry["seeds"] = len(members)
        for metric in ("accuracy", "macro_f1", *CONTINUOUS):
            values = [m[metric] for m in members if m.get(metric) is not None]
            if not values:
                continue
            entry[f"{metric}_mean"] = statistics.fmean(values)
            entry[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        summary.append(entry)
    return summary


def summary_table_rows(summary: list[dict]) -> list[dict]:
    """Rows for printing: accuracy and macro F1 as 'mean ± std'."""
    return [
        {"model": s["model"], "template": s["template"], "selection": s["selection"], "shots": s["shots"],
         "calibrated": "yes" if s["calibrated"] else "no", "seeds": s["seeds"],
         "accuracy": f"{s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f}",
         "macro_f1": f"{s['macro_f1_mean']:.4f} ± {s['macro_f1_std']:.4f}",
         **{name: f"{s[name + '_mean']:.4f} ± {s[name + '_std']:.4f}" for name in CONTINUOUS if name + "_mean" in s}}
        for s in summary
    ]
