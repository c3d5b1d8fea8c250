"""Data files and Hub datasets into `datasets` splits, checked before any model loads: the loading that
classification, language modelling and few-shot prompting share.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import datasets
from datasets import DatasetDict
from datasets.exceptions import DatasetNotFoundError

from .errors import UserError
from .model_names import hub_cause, hub_error, hub_reachable

# File extension -> `datasets` builder; tsv is csv with a tab delimiter.
BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
TEXT_FORMATS = {".csv", ".tsv", ".json", ".jsonl", ".txt"}

def check_data_file(path: str, what: str, builders: dict[str, str] = BUILDERS) -> str:
    """Check that a data file exists, is readable, has a known format, and (text formats) is UTF-8."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{what} {path!r} does not exist; check the path")
    suffix = file.suffix.lower()
    if suffix not in builders:
        raise UserError(f"{what} {path!r} has an unsupported extension; use one of {', '.join(sorted(builders))}")
    try:
        handle = file.open("rb")
    except OSError as error:
        raise UserError(f"cannot read {what} {path!r} ({error.strerror}); check its permissions") from None
    with handle:
        if suffix in TEXT_FORMATS:
            _check_utf8(handle, path, what)
        elif file.stat().st_size == 0:
            raise UserError(f"{what} {path!r} is empty; give a file with data")
    return path


def _check_utf8(handle, path: str, what: str) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, seen_text = 1, False
    while chunk := handle.read(1 << 20):
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as error:
            line += chunk[: error.start].count(b"\n")
            raise UserError(f"{what} {path!r} is not UTF-8 (bad byte near line {line}); re-save it as UTF-8") from None
        line += text.count("\n")
        seen_text = seen_text or bool(text.strip().lstrip("\ufeff"))
    if not seen_text:
        raise UserError(f"{what} {path!r} is empty; give a file with data")


def load_data_file(path: str, split: str, cache_dir: str | None, **kwargs) -> datasets.Dataset:
    """Load one checked file as a `Dataset` with the `datasets` builder its extension names."""
    suffix = Path(path).suffix.lower()
    builder = "text" if suffix == ".txt" else BUILDERS[suffix]
    if builder == "csv":
        # utf-8-sig: a byte-order mark must not become part of the first column's name.
        kwargs.update(sep="\t" if suffix == ".tsv" else ",", encoding="utf-8-sig")
    try:
        return datasets.load_dataset(builder, data_files={split: path}, split=split, cache_dir=cache_dir, **kwargs)
    except Exception as error:  # pyarrow and pandas raise many types for a malformed file
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        cause = getattr(error, "__cause__", None)
        if cause is not None and str(cause):
            reason = " ".join(str(cause).split())[:200]
        raise UserError(f"cannot parse {split} file {path!r} as {builder} ({reason}); fix the file") from None


def load_raw_splits(files: dict[str, str | None], need: tuple[str, ...] = (), dataset_name: str | None = None,
                    dataset_config_name: str | None = None, cache_dir: str | None = None) -> tuple[DatasetDict, dict[str, str]]:
    """Load the raw splits named in `need` (among train/validation/test) from a dataset or from `files`
    (split -> path); returns the splits and, for messages, where each came from."""
    sources: dict[str, str] = {}
    if dataset_name:
        if not Path(dataset_name).is_dir() and not hub_reachable():
            datasets.config.HF_HUB_OFFLINE = True  # fail at once from the cache instead of retrying
        try:
            raw = datasets.load_dataset(dataset_name, dataset_config_name, cache_dir=cache_dir)
        except (OSError, ValueError, DatasetNotFoundError) as error:
            if isinstance(error, ValueError) and "config" in str(error).lower():
                raise UserError(f"dataset {dataset_name!r}: {' '.join(str(error).split())[:200]}; pass --dataset_config_name") from None
            if isinstance(error, DatasetNotFoundError):
                raise UserError(f"dataset {dataset_name!r} was not found on the Hugging Face Hub (or is gated); check the "
                                "name, or pass local files (--train_file, --validation_file)") from None
            cause = hub_cause(error)
            if cause is not None:
                raise hub_error(dataset_name, cause, "dataset") from None
            raise UserError(f"cannot load dataset {dataset_name!r}: {' '.join(str(error).split())[:300]}") from None
        splits = DatasetDict({name: raw[name] for name in ("train", "validation", "test") if name in raw})
        if "validation" not in splits and "validation_matched" in raw:
            splits["validation"] = raw["validation_matched"]
        sources = {name: f"{dataset_name}[{name}]" for name in splits}
    else:
        splits = DatasetDict()
        for split, path in files.items():
            if path:
                check_data_file(path, f"{split} file")
                splits[split] = load_data_file(path, split, cache_dir)
                sources[split] = path
    if "train" in need and "train" not in splits:
        raise UserError("no training data; pass --train_file FILE or --dataset_name NAME")
    if "validation" in need and "validation" not in splits and "train" not in splits:
        raise UserError("no evaluation data; pass --validation_file FILE (or --train_file to carve one)")
    if "test" in need and "test" not in splits:
        raise UserError("--do_predict needs test data; pass --test_file FILE")
    for split, dataset in splits.items():
        if len(dataset) == 0:
            raise UserError(f"{split} data {sources[split]!r} has no rows; give a file with data")
    return splits, sources


