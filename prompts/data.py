"""Loading the demonstration pool and the evaluation examples for a template, with labels as template ids."""

from __future__ import annotations

from dataclasses import dataclass, field

import datasets

from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.columns import UnknownLabel, check_text_column, encode_labels
from finetune_toolkit.core.datafiles import load_raw_splits
from finetune_toolkit.core.errors import UserError

from .template import PromptTemplate


@dataclass
class LabelledExamples:
    """Examples as field dicts (keys: the template's fields) with label ids (None for unlabelled queries)."""

    fields: list[dict[str, str]]
    labels: list[int] | None = None
    # Embeddings computed for nearest-neighbour selection, kept across runs of a sweep.
    vectors: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.fields)


@dataclass
class FewShotDataArguments:
    """Where the demonstration pool and the evaluated examples come from."""

    dataset_name: str | None = field(default=None, metadata={"help": "Hub dataset (e.g. nyu-mll/glue) or a local dataset directory."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Dataset configuration, e.g. sst2."})
    train_file: str | None = field(default=None, metadata={"help": "Demonstration pool: .csv, .tsv, .json, .jsonl or .parquet."})
    validation_file: str | None = field(default=None, metadata={"help": "Examples to evaluate, same formats."})
    text_columns: list[str] = field(
        default_factory=list,
        metadata={"help": "Data columns for the template's fields, in order (default: columns named like the fields, "
                  "e.g. text, or sentence1 sentence2 for entailment).", "nargs": "+"},
    )
    label_column: str = field(default="label", metadata={"help": "Label column (label ids or label names)."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Evaluate only the first N examples."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N pool examples."})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "Where `datasets` keeps its cache."})

    def __post_init__(self):
        require_at_least_one(self, "max_eval_samples", "max_train_samples")


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
    if pool is not None and set(pool.labels) != set(evaluation.labels):
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
    if not args.text_columns:
        return {name: name for name in template.fields}
    if len(args.text_columns) != len(template.fields):
        raise UserError(
            f"template {template.name!r} has {len(template.fields)} field(s) ({', '.join(template.fields)}) but "
            f"--text_columns names {len(args.text_columns)}; give one column per field"
        )
    return dict(zip(template.fields, args.text_columns))


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
        check_text_column(dataset[column], column, source, "--text_columns")
    texts = {name: dataset[column] for name, column in columns.items()}
    fields = [{name: values[row] for name, values in texts.items()} for row in range(len(dataset))]
    return LabelledExamples(fields, _label_ids(dataset, label_column, source, template))


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
