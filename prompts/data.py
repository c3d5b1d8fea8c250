"""Loading the demonstration pool and the evaluation examples for a template, with each row's answer.

What a row's label becomes depends on the template's kind: a label id of the verbalizer (classification), the
index of the right option among the row's own options (multiple choice; the options are kept in the row's fields
under the template's `choices_column`), or the reference text (generation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import datasets

from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.columns import UnknownLabel, check_text_column, encode_labels, label_value, row_error
from finetune_toolkit.core.datafiles import load_raw_splits
from finetune_toolkit.core.errors import UserError

from .example_tasks import EXAMPLE_TASKS, example_dir
from .template import PromptTemplate


@dataclass
class LabelledExamples:
    """Examples as field dicts (keys: the template's fields) with their answers (None for unlabelled queries): label
    ids (classification), option indices (multiple choice, options in the fields) or reference texts (generation)."""

    fields: list[dict]
    labels: list | None = None
    # Embeddings computed for nearest-neighbour selection, kept across runs of a sweep.
    vectors: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.fields)


@dataclass
class FewShotDataArguments:
    """Where the demonstration pool and the evaluated examples come from."""

    dataset_name: str | None = field(default=None, metadata={
        "help": "Hub dataset (e.g. nyu-mll/glue), a local dataset directory, or example:antonyms / example:arithmetic."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Dataset configuration, e.g. sst2."})
    train_file: str | None = field(default=None, metadata={"help": "Demonstration pool: .csv, .tsv, .json, .jsonl or .parquet."})
    validation_file: str | None = field(default=None, metadata={"help": "Examples to evaluate, same formats."})
    text_columns: list[str] = field(
        default_factory=list,
        metadata={"help": "Data columns for the template's fields, in order (default: columns named like the fields, "
                  "e.g. text, or sentence1 sentence2 for entailment).", "nargs": "+"},
    )
    label_column: str = field(default="label", metadata={"help": "Answer column: label ids or names (classification), the "
                              "right option's index or text (multiple_choice), the reference text (generation)."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Evaluate only the first N examples."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N pool examples."})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "Where `datasets` keeps its cache."})

    def __post_init__(self):
        require_at_least_one(self, "max_eval_samples", "max_train_samples")
        if self.dataset_name and self.dataset_name.startswith("example:"):
            name = self.dataset_name.removeprefix("example:")
            if name not in EXAMPLE_TASKS:
                raise UserError(f"unknown example task {name!r}; choose from: {', '.join(EXAMPLE_TASKS)}")
            self.dataset_name = str(example_dir(name))


def load_fewshot_data(args: FewShotDataArguments, template: PromptTemplate, need_pool: bool
                      ) -> tuple[LabelledExamples | None, LabelledExamples]:
    """The pool (None when not needed and not given) and the evaluation examples, checked against `template`."""
    splits, sources = load_raw_splits({"train": args.train_file, "validation": args.validation_file},
                                      ("train",) if need_pool else (), args.dataset_name, args.dataset_config_name,
                                      args.dataset_cache_dir)
    if "validation" not in splits:
        raise UserError("no evaluation data; pass --validation_file FILE (or a dataset with a validation split)")
    columns = _field_columns(args, template)
    evaluation = _examples(splits["validation"], sources["validation"], columns, args.label_column, template)
    pool = _examples(splits["train"], sources["train"], columns, args.label_column, template) if "train" in splits else None
    if template.kind == "classification" and pool is not None and set(pool.labels) != set(evaluation.labels):
        names = template.verbalizer.label_names
        only_pool = sorted(names[i] for i in set(pool.labels) - set(evaluation.labels))
        only_eval = sorted(names[i] for i in set(evaluation.labels) - set(pool.labels))
        raise UserError(
            f"the demonstration pool and the evaluation data have different label sets (only in the pool: {only_pool or 'none'}; "
            f"only in the evaluation data: {only_eval or 'none'}); use data with the same labels"
        )
    if args.max_eval_samples is not None:
        evaluation = LabelledExamples(evaluation.fields[: args.max_eval_samples], evaluation.labels[: args.max_eval_samples])
    if pool is not None and args.max_train_samples is not None:
        pool = LabelledExamples(pool.fields[: args.max_train_samples], pool.labels[: args.max_train_samples])
    return pool, evaluation


def _field_columns(args: FewShotDataArguments, template: PromptTemplate) -> dict[str, str]:
    choices = {template.choices_column: template.choices_column} if template.choices_column else {}
    if not args.text_columns:
        return {**{name: name for name in template.fields}, **choices}
    if len(args.text_columns) != len(template.fields):
        raise UserError(
            f"template {template.name!r} has {len(template.fields)} field(s) ({', '.join(template.fields)}) but "
            f"--text_columns names {len(args.text_columns)}; give one column per field"
        )
    return {**dict(zip(template.fields, args.text_columns)), **choices}


def _examples(dataset: datasets.Dataset, source: str, columns: dict[str, str], label_column: str,
              template: PromptTemplate) -> LabelledExamples:
    for name, column in list(columns.items()) + [("label", label_column)]:
        if column not in dataset.column_names:
            flag = "--label_column" if name == "label" else "--text_columns"
            raise UserError(
                f"{source!r} has no column {column!r} for the template field {name!r}; pass {flag} "
                f"(columns: {', '.join(dataset.column_names)})"
            )
    for name, column in columns.items():
        if name != template.choices_column:
            check_text_column(dataset[column], column, source, "--text_columns")
    texts = {name: dataset[column] for name, column in columns.items()}
    fields = [{name: values[row] for name, values in texts.items()} for row in range(len(dataset))]
    if template.kind == "multiple_choice":
        return LabelledExamples(fields, _option_indices(fields, dataset[label_column], template.choices_column, source))
    if template.kind == "generation":
        return LabelledExamples(fields, _references(dataset[label_column], label_column, source))
    return LabelledExamples(fields, _label_ids(dataset, label_column, source, template))


def _option_indices(fields: list[dict], answers: list, column: str, source: str) -> list[int]:
    """Check each row's options (a list of at least two distinct non-empty texts) and return the index of its answer,
    given as an index into the options or as the option's text."""
    indices = []
    for row, (values, answer) in enumerate(zip(fields, answers), 1):
        options = values[column]
        if not isinstance(options, list):
            raise row_error(source, row, f"column {column!r} must hold a list of options, got {type(options).__name__} "
                            f"({str(options)[:40]!r}); write the options as a JSON list")
        if len(options) < 2:
            raise row_error(source, row, f"column {column!r} has {len(options)} option(s); multiple choice needs at least two")
        if not all(isinstance(option, str) and option.strip() for option in options):
            raise row_error(source, row, f"column {column!r} has an option that is not non-empty text; fix the options")
        if len(set(options)) < len(options):
            raise row_error(source, row, f"column {column!r} lists an option twice; each option must be different")
        answer = label_value(answer)
        if isinstance(answer, bool) or answer is None:
            raise row_error(source, row, "missing answer; give the right option's index (from 0) or its text")
        if isinstance(answer, int):
            if not 0 <= answer < len(options):
                raise row_error(source, row, f"answer index {answer} is out of range for {len(options)} options "
                                f"(0..{len(options) - 1}); fix the answer (indices count from 0)")
            indices.append(answer)
        elif isinstance(answer, str) and answer in options:
            indices.append(options.index(answer))
        else:
            raise row_error(source, row, f"answer {str(answer)[:40]!r} is not among the options {options!r}; give the "
                            "right option's index (from 0) or its exact text")
    return indices


def _references(values: list, column: str, source: str) -> list[str]:
    """Reference texts of a generation task; numbers are written as text ("42"), empty references are refused."""
    references = []
    for row, value in enumerate(values, 1):
        value = label_value(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise row_error(source, row, f"column {column!r} must hold the reference answer as non-empty text, got "
                            f"{str(value)[:40]!r}; fill it in or pass the right --label_column")
        references.append(value)
    return references


def _label_ids(dataset: datasets.Dataset, column: str, source: str, template: PromptTemplate) -> list[int]:
    """Label ids of the template (`finetune_toolkit.core.columns.encode_labels`: ids in the template's order, or label names)."""
    names = template.verbalizer.label_names
    feature = dataset.features[column]
    class_names = feature.names if isinstance(feature, datasets.ClassLabel) else None
    try:
        return encode_labels(dataset[column], names, source, ids_in_order=True, class_names=class_names)
    except UnknownLabel as error:
        if isinstance(error.value, int):
            raise UserError(
                f"{source!r} row {error.row}: label {error.value} is not a label id of template {template.name!r} "
                f"(0..{len(names) - 1}: {', '.join(names)}); fix the data or the template's labels"
            ) from None
        raise UserError(
            f"{source!r} row {error.row}: label {error.value!r} has no verbalizer in template {template.name!r} "
            f"(labels: {', '.join(names)}); add it to the template's labels or fix the data"
        ) from None


def load_ood_texts(path: str, column: str = "text") -> list[str]:
    """Sentences of another corpus for `--demo_format ood_inputs`: a .txt file (one a line, blank lines skipped) or a
    .csv/.tsv/.json/.jsonl/.parquet file with a `text` column. Refused, in one line, when it is missing, empty or
    has no such column."""
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise UserError(f"--ood_inputs {path!r} does not exist; give a file of sentences (one a line, or a text column)")
    if file.suffix.lower() == ".txt":
        texts = [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        splits, _ = load_raw_splits({"train": path}, ("train",))
        rows = splits["train"]
        if column not in rows.column_names:
            raise UserError(f"--ood_inputs {path!r} has no {column!r} column (it has: {', '.join(rows.column_names)}); "
                            "give a file with a text column or a .txt file")
        texts = [str(text).strip() for text in rows[column] if text is not None and str(text).strip()]
    if not texts:
        raise UserError(f"--ood_inputs {path!r} holds no sentences; give a file with at least one")
    return texts
