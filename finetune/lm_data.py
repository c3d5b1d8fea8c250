"""Causal-LM data: text or instruction files into training examples.

Plain text is tokenized in batches, documents are joined with EOS, and the stream is cut into blocks
of `block_size` tokens. The last, shorter block of each batch is padded and its padding masked
out of the loss (labels -100), so no text is thrown away and padding never counts. With `--packing`,
each document stays its own example instead, and batches are flattened without padding.

Instruction data (`prompt`/`completion` columns, or chat `messages`) is handled by
`finetune.instructions`: one example per row, the loss on the answer only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Literal

import datasets
from datasets import DatasetDict

from finetune_toolkit.core.causal_lm import context_length
from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.columns import check_text_column
from finetune_toolkit.core.datafiles import BUILDERS, check_data_file, load_data_file, load_raw_splits
from finetune_toolkit.core.errors import UserError

from .instructions import data_format, documents_as_examples

LM_BUILDERS = {**BUILDERS, ".txt": "text"}
MAX_DEFAULT_BLOCK = 1024


@dataclass
class LMDataArguments:
    """Which text to train on and how to cut it into blocks."""

    dataset_name: str | None = field(default=None, metadata={"help": "Hub dataset name or a local dataset directory."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Dataset configuration."})
    train_file: str | None = field(default=None, metadata={"help": "Training text: .txt, .csv, .tsv, .json, .jsonl or .parquet."})
    validation_file: str | None = field(default=None, metadata={"help": "Validation text, same formats."})
    text_column: str = field(default="text", metadata={"help": "Column holding the text (not for .txt files)."})
    prompt_column: str = field(default="prompt", metadata={"help": "Instruction data: column holding the prompt."})
    completion_column: str = field(default="completion", metadata={"help": "Instruction data: column holding the answer."})
    messages_column: str = field(
        default="messages", metadata={"help": "Chat data: column holding [{role, content}, ...], rendered with the chat template."}
    )
    completion_only_loss: bool | None = field(
        default=None,
        metadata={"help": "Loss on the completion (the assistant turns) only. Default: on for instruction and chat data."},
    )
    kept_logits: bool = field(
        default=True,
        metadata={"help": "Instruction data: run the output layer only at the positions that have a label (the same loss "
                  "and gradients, less work: finetune.kept_logits); false runs it at every position."},
    )
    packing: bool | None = field(
        default=None,
        metadata={"help": "Padding-free batches: examples flattened into rows, positions restarting at each example "
                  "(no attention across examples). Plain text then keeps each document apart instead of joining them. "
                  "Default: on for instruction data (the same loss as padded batches, faster), except with prompt "
                  "tuning; off for plain text.", "nargs": "?", "const": True},
    )
    split_packed_batches: bool = field(
        default=True,
        metadata={"help": "With --packing and an attention that pays for the whole row (sdpa, eager), spread each batch "
                  "over the number of rows that costs least (finetune.packed_rows); false keeps one row per batch."},
    )
    document_per: Literal["line", "file"] = field(
        default="line", metadata={"help": "For .txt files: each non-empty line is a document, or the whole file is one."}
    )
    block_size: int | None = field(
        default=None, metadata={"help": "Tokens per training block. Default: the model's context, at most 1024."}
    )
    validation_split_percentage: int = field(
        default=5, metadata={"help": "Percent of train held out for validation when there is no validation data."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training blocks."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only the first N validation blocks."})
    test_file: str | None = field(
        default=None, metadata={"help": "--do_predict: prompt/completion or messages pairs to answer and score (ROUGE, BLEU, ...)."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Answer only the first N test prompts."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Re-tokenize instead of reusing the datasets cache."})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "Where `datasets` keeps its cache."})

    def __post_init__(self):
        require_at_least_one(self, "block_size", "max_train_samples", "max_eval_samples", "max_predict_samples",
                             "validation_split_percentage")


def load_text_splits(args: LMDataArguments, need: tuple[str, ...], seed: int = 42) -> DatasetDict:
    """Train/validation splits with one `text` column of non-empty documents."""
    splits = DatasetDict()
    sources: dict[str, str] = {}
    if args.dataset_name:
        raw, sources = load_raw_splits({}, (), args.dataset_name, args.dataset_config_name, args.dataset_cache_dir)
        splits.update({name: raw[name] for name in ("train", "validation") if name in raw})
    for split, path in (("train", args.train_file), ("validation", args.validation_file)):
        if path:
            check_data_file(path, f"{split} file", LM_BUILDERS)
            extra = {"sample_by": "document" if args.document_per == "file" else "line"} if path.endswith(".txt") else {}
            splits[split] = load_data_file(path, split, args.dataset_cache_dir, **extra)
            sources[split] = path
    if "train" in need and "train" not in splits:
        raise UserError("no training text; pass --train_file FILE or --dataset_name NAME")
    kinds = {split: split_format(splits[split], args) for split in splits}
    if len(set(kinds.values())) > 1:
        raise UserError(f"the splits hold different kinds of data ({', '.join(f'{s}: {k}' for s, k in kinds.items())}); give the same columns in each")
    for split in list(splits):
        if kinds[split] == "text":
            splits[split] = _documents(splits[split], args.text_column, sources[split])
        else:
            splits[split] = splits[split].select_columns(list(instruction_columns(args, kinds[split]).values()))
    if "validation" in need and "validation" not in splits:
        if "train" not in splits:
            raise UserError("no validation text; pass --validation_file FILE")
        if not 0 < args.validation_split_percentage < 100 or len(splits["train"]) < 2:
            raise UserError("no validation text and too little training text to hold some out; pass --validation_file")
        parts = splits["train"].train_test_split(test_size=args.validation_split_percentage / 100, seed=seed)
        splits["train"], splits["validation"] = parts["train"], parts["test"]
    return splits


def split_format(dataset: datasets.Dataset, args: LMDataArguments) -> str:
    """"text", "prompt_completion" or "messages", from the split's columns."""
    return data_format(dataset.column_names, args.prompt_column, args.completion_column, args.messages_column)


def instruction_columns(args: LMDataArguments, kind: str) -> dict[str, str]:
    """The columns an instruction format reads, by role."""
    if kind == "messages":
        return {"messages": args.messages_column}
    return {"prompt": args.prompt_column, "completion": args.completion_column}


def _documents(dataset: datasets.Dataset, column: str, source: str) -> datasets.Dataset:
    """Keep the text column, drop empty documents; refuse non-text values and empty corpora."""
    if column not in dataset.column_names:
        raise UserError(f"text column {column!r} is not in {source!r}; pass --text_column, one of: {', '.join(dataset.column_names)}")
    keep = check_text_column(dataset[column], column, source, "--text_column", skip_empty=True)
    if not keep:
        raise UserError(f"{source!r} holds no text; give a file with some")
    dataset = dataset.select(keep).select_columns([column])
    return dataset.rename_column(column, "text") if column != "text" else dataset


def default_block_size(model, tokenizer) -> int:
    """The model's context length, capped at 1024 tokens."""
    limits = [n for n in (context_length(model), tokenizer.model_max_length) if n and n < 10**9]
    return min(limits + [MAX_DEFAULT_BLOCK])


def tokenize_into_blocks(splits: DatasetDict, tokenizer, block_size: int, args: LMDataArguments) -> DatasetDict:
    """Tokenize documents (EOS after each), join them and cut into `block_size`-token blocks with labels.

    With `args.packing`, documents are not joined: each is cut on its own into examples of at most
    `block_size` tokens, for padding-free batches.
    """
    if tokenizer.eos_token_id is None:
        raise UserError("the tokenizer has no EOS token to separate documents; use a causal-LM tokenizer")
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def tokenize(batch):
        ids = tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
        return {"input_ids": [document + [eos] for document in ids]}

    def cut(batch):
        stream = list(chain.from_iterable(batch["input_ids"]))
        blocks = {"input_ids": [], "attention_mask": [], "labels": []}
        for start in range(0, len(stream), block_size):
            block = stream[start : start + block_size]
            padding = block_size - len(block)
            blocks["input_ids"].append(block + [pad] * padding)
            blocks["attention_mask"].append([1] * len(block) + [0] * padding)
            blocks["labels"].append(block + [-100] * padding)
        return blocks

    common = {"batched": True, "num_proc": args.preprocessing_num_workers, "load_from_cache_file": not args.overwrite_cache}
    tokenized = splits.map(tokenize, remove_columns=["text"], desc="Tokenizing", **common)
    for split, dataset in tokenized.items():
        tokens = sum(len(ids) for ids in dataset["input_ids"])
        if tokens < block_size:
            raise UserError(
                f"the {split} text has {tokens} tokens, fewer than one block of {block_size}; pass --block_size {max(1, tokens // 2)} "
                "or less, or give more text"
            )
    if args.packing:
        return tokenized.map(documents_as_examples, fn_kwargs={"block_size": block_size}, remove_columns=["input_ids"],
                             desc=f"Cutting documents at {block_size} tokens", **common)
    return tokenized.map(cut, desc=f"Cutting into blocks of {block_size}", **common)
