"""The reports of `lm --do_predict`, `generate --reference_column`, `compare`, `emergence` and `scaling`, each read
from the files the command writes."""

from __future__ import annotations

from pathlib import Path

from .examples import generation_row
from .reading import Report, Table, figures_in, flatten, number, read_json, read_jsonl
from .sweep_loader import add_prediction_runs, natural_key

LM_PREDICTIONS, LM_SCORES = "generated_predictions.jsonl", "predict_results.json"


def metrics_table(metrics: dict, title: str) -> Table:
    return Table(title, ["metric", "value"], [[name, number(value)] for name, value in metrics.items()])


def rows_table(rows: list[dict], title: str) -> Table:
    """One table row per dict, one column per scalar key (lists and dicts left out)."""
    columns = list(dict.fromkeys(key for row in rows for key in row if not isinstance(row[key], (list, dict))))
    return Table(title, columns, [[number(row.get(column)) for column in columns] for row in rows])


def is_lm(folder: Path) -> bool:
    return (folder / LM_PREDICTIONS).is_file() or (folder / LM_SCORES).is_file()


def load_lm(folder: Path) -> Report:
    """A fine-tuned model's answers to the test prompts (`generated_predictions.jsonl`) and their scores."""
    report = Report("lm", f"Fine-tuned causal LM: {folder.name}")
    report.tables.append(metrics_table(read_json(folder / LM_SCORES), "Scores of the generated answers"))
    if (folder / "all_results.json").is_file():
        report.tables.append(metrics_table(read_json(folder / "all_results.json"), "Training and evaluation (all_results.json)"))
    rows = read_jsonl(folder / LM_PREDICTIONS)
    report.add_run("test predictions", "generation", [
        generation_row(report.next_run, i, row["prompt"], None, row["prediction"], row["reference"], report.contexts)
        for i, row in enumerate(rows)])
    report.figures = figures_in(folder)
    return report


def generate_outputs(folder: Path) -> list[Path]:
    """`generate --reference_column` outputs in `folder`: each `<name>.jsonl` beside its `<name>.scores.json`."""
    outputs = (scores.with_name(scores.name[: -len(".scores.json")] + ".jsonl") for scores in folder.glob("*.scores.json"))
    return sorted(output for output in outputs if output.is_file())


def load_generate(folder: Path) -> Report:
    """Generated answers against their references, one run per output file."""
    report = Report("generate", f"Generated answers: {folder.name}")
    for output in generate_outputs(folder):
        scores = read_json(output.with_suffix(".scores.json"))
        report.tables.append(metrics_table(scores, f"Scores of {output.name}"))
        rows = read_jsonl(output)
        report.add_run(output.stem, "generation", [
            generation_row(report.next_run, i, row["prompt"], None, row["generated_text"], row.get("reference"), report.contexts)
            for i, row in enumerate(rows)])
    return report


def load_compare(folder: Path) -> Report:
    """Each method's score and cost (`comparison.json`), the plot, and each method's (and seed's) examples."""
    comparison = read_json(folder / "comparison.json")
    report = Report("compare", f"Adaptation methods compared: {folder.name}", settings=flatten(comparison.get("plan", {})))
    columns = ["method", "metric", "score", "score_std", "trainable_parameters", "train_seconds", "eval_seconds"]
    report.tables.append(Table("Methods (k-shot rows: mean ± std over seeds)", columns,
                               [[number(row.get(column)) for column in columns] for row in comparison["methods"]]))
    report.figures = figures_in(folder)
    for path in sorted((folder / "predictions").glob("*.jsonl"), key=lambda p: natural_key(p.stem)):
        add_prediction_runs(report, path.stem, read_jsonl(path), None, comparison.get("label_names"))
    if not report.runs:
        report.notes.append("This comparison was run before compare kept per-example predictions; run it again to see them.")
    return report


def load_emergence(folder: Path) -> Report:
    """The emergence lab: each model's row and the plots. Its held-out data are random token spans scored as a
    whole (the ICL score), so it has no examples to list."""
    result = read_json(folder / "emergence.json")
    report = Report("emergence", f"Induction heads and in-context learning: {folder.name}", settings=flatten(result["settings"]))
    report.tables.append(rows_table(result["models"], "Models"))
    report.figures = figures_in(folder, "*.png", "*/*.png")
    report.notes.append("The emergence lab scores random repeated token spans in aggregate (the ICL score, prefix "
                        "matching); it has no per-example predictions to list.")
    return report


def load_scaling(folder: Path) -> Report:
    """The scale ladder: the measures per size, the plot, and each size's answers to the held-out problems."""
    result = read_json(folder / "scaling.json")
    report = Report("scaling", f"Scale ladder: {folder.name}", settings=flatten(result["settings"]))
    report.tables.append(rows_table(result["models"], "Sizes (means over seeds when there are several)"))
    report.tables.append(Table("Sharpness along the ladder", ["measure", "sharpness"],
                               [[name, number(value)] for name, value in result.get("sharpness", {}).items()]))
    report.figures = figures_in(folder)
    for path in sorted(folder.glob("*/answers.jsonl"), key=lambda p: natural_key(p.parent.name)) + \
            sorted(folder.glob("seed*/*/answers.jsonl"), key=lambda p: natural_key(str(p.parent))):
        name = str(path.parent.relative_to(folder))
        report.add_run(name, "generation", [
            generation_row(report.next_run, row["index"], row["prompt"], None, row["prediction"], row["reference"], report.contexts)
            for row in read_jsonl(path)])
    return report
