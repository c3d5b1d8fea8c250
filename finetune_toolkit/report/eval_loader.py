"""The report of `finetune-toolkit eval`: lm-eval's results per (model, task) from `runs/`, and with `--log_samples`
every sample lm-eval logged (`samples_<task>_<date>.jsonl`, lm-eval 0.4's format)."""

from __future__ import annotations

from pathlib import Path

from .examples import choice_row, generation_row, option_rows
from .reading import Report, Table, figures_in, flatten, number, read_json, read_jsonl


def is_eval(folder: Path) -> bool:
    plan = folder / "plan.json"
    return (folder / "runs").is_dir() and plan.is_file() and "tasks" in read_json(plan) and not (folder / "predictions").is_dir()


def load_eval(folder: Path) -> Report:
    """Settings from `plan.json`, a table with each metric ± its standard error, the plots, and the logged samples."""
    report = Report("eval", f"lm-eval tasks: {folder.name}", settings=flatten(read_json(folder / "plan.json")))
    records = [read_json(path) for path in sorted((folder / "runs").glob("*/*.json"))]
    report.tables.append(_results_table(records))
    report.figures = figures_in(folder, "*_vs_parameters.png")
    logged = False
    for record in records:
        for samples_file in record.get("samples_files") or []:
            logged = True
            samples = read_jsonl(folder / samples_file)
            report.add_run(f"{record['model']} · {record['task']}", _kind(samples), [_row(report, sample) for sample in samples])
    if not logged:
        report.notes.append("No samples were logged: run eval with --log_samples to see every example here.")
    return report


def _results_table(records: list[dict]) -> Table:
    rows = []
    for record in records:
        for task, metrics in (record.get("results") or {}).items():
            for key, value in metrics.items():
                name, _, filter_name = key.partition(",")
                if name.endswith("_stderr") or not isinstance(value, (int, float)) or name in ("sample_len",):
                    continue
                stderr = metrics.get(f"{name}_stderr,{filter_name}")
                spread = f" ± {number(stderr)}" if isinstance(stderr, (int, float)) else ""
                rows.append([record["model"], task, name + (f" ({filter_name})" if filter_name != "none" else ""),
                             number(float(value)) + spread, str((record.get("n-shot") or {}).get(task, ""))])
    return Table("Results (± standard error, as lm-eval reports it)", ["model", "task", "metric", "value", "shots"], rows)


def _is_choice(sample: dict) -> bool:
    responses = sample.get("filtered_resps") or []
    return bool(responses) and all(isinstance(r, (list, tuple)) and len(r) == 2 for r in responses)


def _kind(samples: list[dict]) -> str:
    return "multiple_choice" if samples and _is_choice(samples[0]) else "generation"


def _row(report: Report, sample: dict) -> dict:
    arguments = list((sample.get("arguments") or {}).values())
    prompt = str(arguments[0].get("arg_0", "")) if arguments else ""
    metrics = {name: sample[name] for name in sample.get("metrics") or [] if isinstance(sample.get(name), (int, float))}
    extra = {"doc": str(sample.get("doc", ""))[:2000], "filter": str(sample.get("filter", ""))}
    if _is_choice(sample):
        names = [str(argument.get("arg_1", "")) for argument in arguments]
        log_probs = [float(response[0]) for response in sample["filtered_resps"]]
        predicted = max(range(len(log_probs)), key=log_probs.__getitem__)
        target = str(sample.get("target", ""))
        gold = int(target) if target.lstrip("-").isdigit() and 0 <= int(target) < len(names) else \
            next((i for i, name in enumerate(names) if name.strip() == target.strip()), None)
        row = choice_row(report.next_run, sample["doc_id"], prompt, None, option_rows(names, log_probs, None), gold,
                         predicted, report.contexts, extra | {name: number(value) for name, value in metrics.items()})
        if "acc" in metrics:  # lm-eval's own verdict (it breaks ties and reads multiple gold answers its way)
            row["ok"] = int(metrics["acc"] == 1)
        return row
    response = sample.get("filtered_resps") or [""]
    answer = response[0] if isinstance(response, list) else response
    first = next(iter(metrics.values()), None)
    return generation_row(report.next_run, sample["doc_id"], prompt, None, str(answer), str(sample.get("target", "")),
                          report.contexts, correct=None if first is None else first == 1, scores=metrics, extra=extra)
