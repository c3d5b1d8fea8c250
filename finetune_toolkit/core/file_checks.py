"""What is wrong with a model, tokenizer, checkpoint or adapter folder, named file by file.

Loading a folder with a cut `model.safetensors` ends deep inside safetensors (`SafetensorError: Error while
deserializing header`), and a cut `tokenizer.json` inside the tokenizers library (`JSONDecodeError`), far from the
file's name. When loading fails, `folder_problem` reads the folder's files the way their loaders will and says which
one is bad and how, in one line. It costs nothing on the happy path: it runs only after a failure.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

JSON_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
              "adapter_config.json", "model.safetensors.index.json", "preprocessor_config.json", "chat_template.json")
# The largest header a safetensors file may have (the format's own limit is 100 MB).
MAX_HEADER_BYTES = 100_000_000
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def safetensors_problem(path: Path) -> str | None:
    """Why `path` is not a whole safetensors file (header cut, not JSON, tensors past the end), or None."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        first = handle.read(8)
        if len(first) < 8:
            return f"it has {size} bytes, too few for a safetensors header (the file is truncated or empty)"
        (header_bytes,) = struct.unpack("<Q", first)
        if header_bytes > MAX_HEADER_BYTES or 8 + header_bytes > size:
            return (f"its header claims {header_bytes} bytes but the file has {size}: the file is truncated or not a "
                    "safetensors file")
        try:
            header = json.loads(handle.read(header_bytes))
        except (ValueError, UnicodeDecodeError):
            return "its header is not valid JSON: the file is corrupt or not a safetensors file"
    if not isinstance(header, dict):
        return "its header is not a table of tensors: the file is corrupt"
    data_bytes = size - 8 - header_bytes
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, stop = entry["data_offsets"]
            count = 1
            for dimension in entry["shape"]:
                count *= dimension
            expected = count * DTYPE_BYTES.get(entry["dtype"], 0)
        except (KeyError, TypeError, ValueError):
            return f"its entry for tensor {name!r} is malformed: the file is corrupt"
        if expected and stop - begin != expected:
            return f"tensor {name!r} has {stop - begin} bytes where its shape and dtype need {expected}: the file is corrupt"
        end = max(end, stop)
    if end > data_bytes:
        return f"its tensors need {end} bytes of data but only {data_bytes} are there: the file is truncated"
    return None


def json_problem(path: Path) -> str | None:
    """Why `path` is not valid JSON (empty, cut, not text), or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    if not text.strip():
        return "it is empty"
    try:
        json.loads(text)
    except ValueError as error:
        return f"it is not valid JSON ({error}): the file is truncated or corrupt"
    return None


def torch_file_problem(path: Path) -> str | None:
    """Why `path` is not a whole `torch.save` file (a zip archive whose directory sits at its end), or None."""
    if not zipfile.is_zipfile(path):
        return "it is not a whole torch.save file: the file is truncated or corrupt"
    return None


def folder_problem(directory: str | Path) -> str | None:
    """One line naming the first bad file of a model, tokenizer, checkpoint or adapter folder and what is wrong with
    it, or None when every file that can be checked reads whole."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        return None
    for name in JSON_FILES:
        path = directory / name
        if path.is_file() and (problem := json_problem(path)):
            return f"cannot read {path}: {problem}"
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
        missing = sorted(shard for shard in shards if not (directory / shard).is_file())
        if missing:
            return f"cannot read the weights of {directory}: the shard {missing[0]} named in {index.name} is missing"
    for path in sorted(directory.glob("*.safetensors")):
        if problem := safetensors_problem(path):
            return f"cannot read the weights file {path}: {problem}"
    for path in sorted([*directory.glob("*.pt"), *directory.glob("*.pth"), *directory.glob("*.bin")]):
        if problem := torch_file_problem(path):
            return f"cannot read {path}: {problem}"
    if (directory / "adapter_config.json").is_file() and not any(
            (directory / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin")):
        return f"adapter folder {directory} has adapter_config.json but no adapter_model.safetensors: it was not saved whole"
    return None
