"""The tables and plots of `finetune-toolkit eval`: one row per model, each task's metrics as columns; lm-eval's own
tables after each run, and its trackers."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from finetune_toolkit.core.command_line import format_table
from finetune_toolkit.core.plotting import pyplot, save_figure

logger = logging.getLogger(__name__)
SKIPPED = ("alias", "name", "sample_len", "samples")


def task_metrics(record: dict) -> dict[str, float]:
    """`{"acc": 0.52, "exact_match (strip)": 0.1, ...}` of one (model, task) record: the group's aggregate for a group,
    the task's own metrics otherwise; standard errors left out."""
    task = record["task"]
    scores = record.get("groups", {}).get(task) or record["results"].get(task)
    if scores is None and len(record["results"]) == 1:  # a task given as a YAML file: its own name inside
        scores = next(iter(record["results"].values()))
    metrics = {}
    for key, value in (scores or {}).items():
        name, _, filter_name = key.partition(",")
        if name in SKIPPED or "_stderr" in name or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        metrics[name if filter_name in ("", "none") else f"{name} ({filter_name})"] = float(value)
    return metrics


def summary_rows(records: list[dict], models: list[str], tasks: list[str]) -> list[dict]:
    """One row per model: `model`, `parameters`, and `"<task> <metric>"` for every metric of every task."""
    rows = {model: {"model": model, "parameters": None} for model in models}
    for record in records:
        row = rows[record["model"]]
        row["parameters"] = row["parameters"] or record.get("parameters")
        for metric, value in task_metrics(record).items():
            row[f"{record['task']} {metric}"] = value
    return [rows[model] for model in models]


def summary_table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    columns = ["model", "parameters"] + list(dict.fromkeys(key for row in rows for key in row if key not in ("model", "parameters")))
    return format_table(rows, columns)


def plot_metric_vs_parameters(rows: list[dict], tasks: list[str], output_dir: str | Path) -> list[Path]:
    """For each task, its first metric against the models' parameter counts (log scale): `<task>_vs_parameters.png`."""
    plt = pyplot()
    paths = []
    for task in tasks:
        columns = [key for key in rows[0] if key.startswith(f"{task} ")]
        points = [(row["parameters"], row.get(columns[0])) for row in rows] if columns else []
        points = sorted((p, v) for p, v in points if p and v is not None and math.isfinite(v))
        if len(points) < 2:
            continue
        metric = columns[0][len(task) + 1:]
        figure, axes = plt.subplots(figsize=(5, 3.5))
        axes.plot([p for p, _ in points], [v for _, v in points], marker="o")
        axes.set_xscale("log")
        axes.set_xlabel("parameters")
        axes.set_ylabel(metric)
        axes.set_title(f"{task}: {metric} against model size")
        axes.grid(alpha=0.3)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in task)
        paths.append(save_figure(figure, Path(output_dir) / f"{safe}_vs_parameters.png"))
    return paths


def print_lm_eval_tables(model_name: str, results: dict, args, resolved) -> None:
    """lm-eval's own summary line and tables (with the Stderr column), as `lm_eval` prints them after each run."""
    from lm_eval.utils import make_table

    print(f"{model_name} ({resolved.model_args}), gen_kwargs: ({resolved.gen_kwargs}), limit: {args.limit}, "
          f"num_fewshot: {args.num_fewshot}, batch_size: {args.batch_size}")
    if args.predict_only:  # no metrics to tabulate (and older table writers refuse an empty table)
        return
    print(make_table(results))
    if "groups" in results:
        print(make_table(results, "groups"))


def log_to_trackers(results: dict, samples, resolved) -> None:
    """--wandb_args: lm-eval's Weights & Biases logger, when wandb is installed (as `lm_eval` does)."""
    if not resolved.wandb_args:
        return
    from lm_eval.loggers import WandbLogger

    try:
        wandb_logger = WandbLogger(resolved.wandb_args, resolved.wandb_config_args)
        wandb_logger.post_init(results)
        wandb_logger.log_eval_result()
        if samples:
            wandb_logger.log_eval_samples(samples)
        wandb_logger.run.finish()
    except Exception as error:  # noqa: BLE001 - as lm_eval: a tracker failing does not lose the results
        logger.warning("logging to Weights & Biases failed: %s", error)
