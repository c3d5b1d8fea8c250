"""Instruction data for causal-LM fine-tuning: `prompt`/`completion` pairs or chat `messages`.

Each example becomes one token sequence whose labels are -100 outside the completion (or outside the
assistant turns of a chat), so the loss covers the answer only, as TRL's `completion_only_loss` and
`assistant_only_loss` do. Examples are never joined across their boundaries: batches are padded
(`DataCollatorForSeq2Seq`) or, with packing, flattened into rows with position ids restarting at every
example (`finetune.packed_rows`), so no example attends to another.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import datasets
from datasets import DatasetDict
from transformers import DataCollatorForSeq2Seq

from finetune_toolkit.core.columns import check_text_column, row_error
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.prompt_encoding import continuation_ids, encode_prompt

from .kept_logits import IGNORE_INDEX
from .packed_rows import PackedRowsCollator

logger = logging.getLogger(__name__)

FORMATS = ("text", "prompt_completion", "messages")
ROLES = ("system", "user", "assistant", "tool")


def data_format(columns: Sequence[str], prompt_column: str, completion_column: str, messages_column: str) -> str:
    """Which kind of data a split holds: chat `messages`, `prompt`/`completion` pairs, or plain `text`."""
    if messages_column in columns:
        return "messages"
    if prompt_column in columns and completion_column in columns:
        return "prompt_completion"
    if prompt_column in columns or completion_column in columns:
        present, absent = (prompt_column, completion_column) if prompt_column in columns else (completion_column, prompt_column)
        raise UserError(f"the data has a {present!r} column but no {absent!r} column; give both (or pass --{absent.split('_')[0]}_column)")
    return "text"


def encode_prompt_completion(tokenizer, prompt: str, completion: str, completion_only_loss: bool) -> dict[str, list[int]]:
    """One example: the prompt (encoded as at prediction time, `encode_prompt`: with the tokenizer's special tokens),
    the completion and EOS; labels on the completion and EOS only when `completion_only_loss`."""
    prompt_ids = encode_prompt(tokenizer, prompt)
    answer_ids = continuation_ids(tokenizer, prompt, completion) + [tokenizer.eos_token_id]
    labels = ([IGNORE_INDEX] * len(prompt_ids) if completion_only_loss else list(prompt_ids)) + answer_ids
    return {"input_ids": prompt_ids + answer_ids, "labels": labels}


def _check_messages(messages, row: int, source: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise row_error(source, row + 1, f"'messages' must be a non-empty list of {{role, content}}; got {type(messages).__name__}")
    for turn in messages:
        if not isinstance(turn, dict) or not isinstance(turn.get("role"), str) or not isinstance(turn.get("content"), str):
            raise row_error(source, row + 1, f"every message needs a 'role' and a text 'content'; got {str(turn)[:80]}")
        if turn["role"] not in ROLES:
            raise row_error(source, row + 1, f"unknown role {turn['role']!r}; use one of: {', '.join(ROLES)}")
    if not any(turn["role"] == "assistant" for turn in messages):
        raise row_error(source, row + 1, "the conversation has no assistant turn to learn from")


def assistant_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The chat rendered by the tokenizer's template, and the character spans of its assistant turns.

    Each assistant turn is what rendering `messages[:i + 1]` adds to `messages[:i]` rendered with the
    generation prompt. A template that renders earlier turns differently once later ones follow (some strip
    reasoning) cannot be split this way and is refused.
    """
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for index, turn in enumerate(messages):
        if turn["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:index], tokenize=False, add_generation_prompt=True) if index else ""
        through = tokenizer.apply_chat_template(messages[: index + 1], tokenize=False)
        if not (through.startswith(before) and text.startswith(through)):
            raise UserError(
                "the model's chat template renders earlier turns differently once later turns follow, so the assistant "
                "turns cannot be found; pass --completion_only_loss false, or use prompt/completion data"
            )
        spans.append((len(before), len(through)))
    return text, spans


def encode_messages(tokenizer, messages: list[dict], completion_only_loss: bool) -> dict[str, list[int]]:
    """One chat rendered with the tokenizer's chat template and encoded as every prompt is
    (`finetune_toolkit.core.prompt_encoding.encode_prompt`); labels on the assistant turns only when `completion_only_loss`."""
    if not completion_only_loss:
        ids = encode_prompt(tokenizer, messages, add_generation_prompt=False)
        return {"input_ids": ids, "labels": list(ids)}
    _, spans = assistant_spans(tokenizer, messages)
    ids, offsets = encode_prompt(tokenizer, messages, add_generation_prompt=False, return_offsets_mapping=True)
    labels = [token if any(start <= begin < end for start, end in spans) else IGNORE_INDEX for token, (begin, _) in zip(ids, offsets)]
    return {"input_ids": ids, "labels": labels}


def check_chat_template(tokenizer) -> None:
    """Refuse `messages` data for a tokenizer without a chat template (GPT-2, base models)."""
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(
            "the data has a 'messages' column but the tokenizer has no chat template; use an instruction-tuned "
            "model (e.g. packaged:SmolLM2-135M-Instruct), or give prompt/completion columns instead"
        )


def tokenize_instructions(splits: DatasetDict, tokenizer, kind: str, columns: dict[str, str], max_length: int,
                          completion_only_loss: bool, num_proc: int | None = None, load_from_cache_file: bool = True) -> DatasetDict:
    """Tokenize each example on its own (`input_ids`, `labels`), cut to `max_length` tokens.

    Examples left with no token to learn from after the cut are dropped, with a warning that counts them.
    """
    if tokenizer.eos_token_id is None:
        raise UserError("the tokenizer has no EOS token to end each answer; use a causal-LM tokenizer")
    if kind == "messages":
        check_chat_template(tokenizer)
    if completion_only_loss and kind == "messages" and not getattr(tokenizer, "is_fast", False):
        raise UserError("finding the assistant turns needs a fast tokenizer (offsets); pass --completion_only_loss false")
    for split, dataset in splits.items():
        if kind == "messages":
            for row, messages in enumerate(dataset[columns["messages"]]):
                _check_messages(messages, row, split)
        else:
            check_text_column(dataset[columns["prompt"]], columns["prompt"], split, "--prompt_column")
            check_text_column(dataset[columns["completion"]], columns["completion"], split, "--completion_column")

    def encode(example):
        if kind == "messages":
            encoded = encode_messages(tokenizer, example[columns["messages"]], completion_only_loss)
        else:
            encoded = encode_prompt_completion(tokenizer, example[columns["prompt"]], example[columns["completion"]], completion_only_loss)
        return {name: values[:max_length] for name, values in encoded.items()}

    tokenized = DatasetDict()
    for split, dataset in splits.items():
        encoded = dataset.map(encode, remove_columns=dataset.column_names, num_proc=num_proc,
                              load_from_cache_file=load_from_cache_file, desc=f"Tokenizing {split} ({kind})")
        learnable = encoded.filter(lambda labels: any(token != IGNORE_INDEX for token in labels[1:]), input_columns="labels",
                                   num_proc=num_proc, load_from_cache_file=load_from_cache_file)
        if len(learnable) < len(encoded):
            logger.warning("%d of %d %s examples have no answer token within --block_size %d and are left out; "
                           "raise --block_size to keep them", len(encoded) - len(learnable), len(encoded), split, max_length)
        if not len(learnable):
            raise UserError(f"no {split} example keeps an answer token within --block_size {max_length}; raise --block_size")
        tokenized[split] = learnable
    return tokenized


def example_collator(tokenizer, packing: bool, pad_to_multiple_of: int | None = None, break_even: float | None = None):
    """Batches of whole examples: padded (labels padded with -100), or with `packing` flattened into rows without
    padding between examples (`finetune.packed_rows.PackedRowsCollator`: one row, or with `break_even` the
    cheapest number of rows for attention)."""
    if packing:
        return PackedRowsCollator(tokenizer.pad_token_id or 0, break_even)
    return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX, pad_to_multiple_of=pad_to_multiple_of)


def documents_as_examples(tokenized: datasets.Dataset, block_size: int) -> dict:
    """Plain text for packing: each document (with its EOS) cut into pieces of at most `block_size` tokens,
    each its own example, instead of joining documents into blocks."""
    pieces = [ids[start : start + block_size] for ids in tokenized["input_ids"] for start in range(0, len(ids), block_size)]
    pieces = [piece for piece in pieces if len(piece) > 1]
    return {"input_ids": pieces, "labels": [list(piece) for piece in pieces]}
