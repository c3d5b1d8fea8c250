"""Loading text-classification data with `datasets`: Hub datasets or local csv/tsv/json/jsonl/parquet.

`load_classification_data` returns a `DatasetDict` whose label column is a `ClassLabel`, after
checking every row, so that a bad file fails before any model is loaded or anything is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from datasets import ClassLabel, DatasetDict

from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.columns import UnknownLabel, check_text_column, encode_labels, label_value
from finetune_toolkit.core.datafiles import load_raw_splits
from finetune_toolkit.core.errors import UserError

logger = logging.getLogger(__name__)

# Column names tried, in order, when --text_column is not given.
TEXT_PAIR_CANDIDATES = (("sentence1", "sentence2"), ("premise", "hypothesis"), ("question1", "question2"), ("question", "sentence"))
TEXT_CANDIDATES = ("text", "sentence", "review", "content", "document")


@dataclass
class DataArguments:
    """Which data to train and evaluate on, and how to prepare it."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "Hub dataset name (e.g. nyu-mll/glue) or a local dataset directory."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Dataset configuration, e.g. sst2."})
    train_file: str | None = field(default=None, metadata={"help": "Training data: .csv, .tsv, .json, .jsonl or .parquet."})
    validation_file: str | None = field(default=None, metadata={"help": "Validation data, same formats."})
    test_file: str | None = field(default=None, metadata={"help": "Test data to predict on (labels optional)."})
    text_column: str | None = field(
        default=None, metadata={"help": "Text column. Default: the first of text, sentence, review, content present."}
    )
    text_pair_column: str | None = field(
        default=None, metadata={"help": "Second text column for sentence-pair tasks (e.g. sentence2, hypothesis)."}
    )
    label_column: str = field(default="label", metadata={"help": "Label column (strings or integers)."})
    class_names: str | None = field(
        default=None,
        metadata={"help": "Comma-separated label names in id order, e.g. negative,positive. Integer labels are "
                  "taken as ids into this list; string labels must be among these names."},
    )
    validation_split_percentage: int = field(
        default=10, metadata={"help": "Percent of train carved out for validation when no validation split exists."}
    )
    max_seq_length: int = field(default=128, metadata={"help": "Longer inputs are truncated to this many tokens."})
    pad_to_max_length: bool = field(
        default=False,
        metadata={"help": "Pad every input to max_seq_length (the classic static recipe). Off: pad each batch "
                  "to its longest input, which is much faster."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only the first N evaluation examples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Use only the first N test examples."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Re-tokenize instead of reusing the datasets cache."})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "Where `datasets` keeps its cache."})

    def __post_init__(self):
        require_at_least_one(self, "max_seq_length", "max_train_samples", "max_eval_samples", "max_predict_samples",
                             "preprocessing_num_workers")


@dataclass
class ClassificationData:
    """Validated splits, ready to tokenize."""

    splits: DatasetDict
    text_columns: list[str]
    label_names: list[str]
    # Original file (or dataset) of each split, for error messages and reports.
    sources: dict[str, str]

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}


def choose_text_columns(args: DataArguments, columns: list[str], source: str) -> list[str]:
    """The text column(s) to use: the ones asked for, or the first known names present."""
    if args.text_column:
        chosen = [args.text_column] + ([args.text_pair_column] if args.text_pair_column else [])
    elif args.text_pair_column:
        raise UserError("--text_pair_column needs --text_column too")
    else:
        pair = next((list(p) for p in TEXT_PAIR_CANDIDATES if set(p) <= set(columns)), None)
        single = next(([c] for c in TEXT_CANDIDATES if c in columns), None)
        chosen = pair or single
        if chosen is None:
            raise UserError(f"no text column found in {source!r}; pass --text_column, one of: {', '.join(columns)}")
    for column in chosen:
        if column not in columns:
            raise UserError(f"text column {column!r} is not in {source!r}; available columns: {', '.join(columns)}")
    return chosen


def _label_names(args: DataArguments, splits: DatasetDict, sources: dict[str, str]) -> list[str]:
    """Label names in id order: from --class_names, a ClassLabel feature, or the training labels."""
    if args.class_names:
        names = [name.strip() for name in args.class_names.split(",") if name.strip()]
        if len(set(names)) != len(names) or len(names) < 2:
            raise UserError(f"--class_names needs at least two distinct names, got {args.class_names!r}")
        return names
    reference = "train" if "train" in splits else "validation"
    feature = splits[reference].features[args.label_column]
    if isinstance(feature, ClassLabel):
        return list(feature.names)
    values = [v for v in splits[reference][args.label_column] if v is not None]
    if any(isinstance(v, float) and not float(v).is_integer() for v in values):
        raise UserError(
            f"labels in {sources[reference]!r} are fractional numbers; classification needs class labels "
            "(regression is not supported)"
        )
    if any(isinstance(v, bool) for v in values) or not all(isinstance(v, (str, int, float)) for v in values):
        raise UserError(f"labels in {sources[reference]!r} must be strings or integers; fix column {args.label_column!r}")
    unique = sorted({label_value(v) for v in values}, key=lambda v: (isinstance(v, str), v))
    if len(unique) < 2:
        raise UserError(f"{sources[reference]!r} has only one label ({unique}); classification needs at least two")
    return [str(v) for v in unique]


def _encode_labels(
    dataset: datasets.Dataset, args: DataArguments, names: list[str], source: str, explicit: bool
) -> datasets.Dataset:
    """Map label values to ids (`finetune_toolkit.core.columns.encode_labels`) and cast the column to `ClassLabel(names)`."""
    feature = dataset.features[args.label_column]
    class_names = feature.names if isinstance(feature, ClassLabel) else None
    try:
        ids = encode_labels(dataset[args.label_column], names, source, ids_in_order=explicit and class_names is None,
                            class_names=class_names)
    except UnknownLabel as error:
        raise UserError(f"{error}; fix the row or pass --class_names with every label") from None
    dataset = dataset.remove_columns(args.label_column).add_column(args.label_column, ids)
    return dataset.cast_column(args.label_column, ClassLabel(names=names))


def load_classification_data(args: DataArguments, need: tuple[str, ...] = ("train", "validation"), seed: int = 42) -> ClassificationData:
    """Load, check and label-encode the splits in `need`; carve validation from train if absent.

    Every row is checked (empty or non-text inputs, missing or unknown labels) and the label column
    becomes a `ClassLabel`, so that label ids are the same in every split.
    """
    files = {"train": args.train_file, "validation": args.validation_file, "test": args.test_file}
    splits, sources = load_raw_splits(files, need, args.dataset_name, args.dataset_config_name, args.dataset_cache_dir)
    reference = "train" if "train" in splits else next(iter(splits))
    text_columns = choose_text_columns(args, splits[reference].column_names, sources[reference])
    for split, dataset in splits.items():
        missing = [c for c in text_columns if c not in dataset.column_names]
        if missing:
            raise UserError(
                f"text column {missing[0]!r} is not in {sources[split]!r}; available columns: {', '.join(dataset.column_names)}"
            )
        has_labels = args.label_column in dataset.column_names
        if not has_labels and split != "test":
            raise UserError(
                f"label column {args.label_column!r} is not in {sources[split]!r}; pass --label_column, one of: "
                f"{', '.join(dataset.column_names)}"
            )
        for column in text_columns:
            check_text_column(dataset[column], column, sources[split], "--text_column")

    names = _label_names(args, splits, sources)
    for split in list(splits):
        dataset = splits[split]
        if args.label_column in dataset.column_names:
            dataset = _encode_labels(dataset, args, names, sources[split], explicit=bool(args.class_names))
        keep = text_columns + ([args.label_column] if args.label_column in dataset.column_names else [])
        splits[split] = dataset.select_columns(keep)

    if "validation" in need and "validation" not in splits:
        splits, sources = _carve_validation(splits, sources, args, seed)
    limits = {"train": args.max_train_samples, "validation": args.max_eval_samples, "test": args.max_predict_samples}
    for split, limit in limits.items():
        if split in splits and limit is not None:
            splits[split] = splits[split].select(range(min(limit, len(splits[split]))))
    splits = DatasetDict({split: splits[split] for split in ("train", "validation", "test") if split in splits})
    return ClassificationData(splits=splits, text_columns=text_columns, label_names=names, sources=sources)


def _carve_validation(splits: DatasetDict, sources: dict[str, str], args: DataArguments, seed: int):
    percentage = args.validation_split_percentage
    if not 0 < percentage < 100:
        raise UserError("no validation data; pass --validation_file, or a --validation_split_percentage between 1 and 99")
    train = splits["train"]
    if round(len(train) * percentage / 100) < 1:
        raise UserError(f"training data has {len(train)} rows, too few to carve {percentage}% for validation; pass --validation_file")
    counts = train.to_pandas()[args.label_column].value_counts()
    stratify = args.label_column if counts.min() >= 2 else None
    parts = train.train_test_split(test_size=percentage / 100, seed=seed, stratify_by_column=stratify)
    splits = DatasetDict({**splits, "train": parts["train"], "validation": parts["test"]})
    sources = {**sources, "validation": f"{sources['train']} ({percentage}% held out)"}
    logger.info("Carved %d validation examples from %d training examples", len(parts["test"]), len(train))
    return splits, sources


def tokenize_for_classification(data: ClassificationData, tokenizer, args: DataArguments) -> DatasetDict:
    """Tokenize every split in batches (cached by `datasets`), truncating at `max_seq_length`."""
    max_length = min(args.max_seq_length, tokenizer.model_max_length)
    padding = "max_length" if args.pad_to_max_length else False
    columns = data.text_columns

    def tokenize(batch):
        texts = [batch[column] for column in columns]
        return tokenizer(*texts, truncation=True, max_length=max_length, padding=padding)

    return data.splits.map(
        tokenize,
        batched=True,
        num_proc=args.preprocessing_num_workers,
        remove_columns=columns,
        load_from_cache_file=not args.overwrite_cache,
        desc="Tokenizing",
    )


RESOURCES = Path(__file__).parent / "resources"
MOVIE_REVIEW_LABELS = ("negative", "positive")


def movie_review_files() -> dict[str, str]:
    """The small sentiment data set shipped with the package (written for this project).

    440 short English movie-review sentences, balanced: `train` (320) and `test` (120), JSON lines
    with `text` and `label` (0 negative, 1 positive, as in SST-2).
    """
    return {split: str(RESOURCES / f"movie_reviews_{split}.jsonl") for split in ("train", "test")}
