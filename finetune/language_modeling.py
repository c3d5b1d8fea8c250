"""Fine-tuning a causal LM (GPT-2, Llama, ...) on the user's text or instruction data with the `Trainer`.

Plain text is tokenized in batches, documents are joined with EOS, and the stream is cut into blocks
of `block_size` tokens. The last, shorter block of each batch is padded and its padding masked
out of the loss (labels -100), so no text is thrown away and padding never counts. With `--packing`,
each document stays its own example instead, and batches are flattened without padding.

Instruction data (`prompt`/`completion` columns, or chat `messages`) is handled by
`finetune.instructions`: one example per row, the loss on the answer only. `--use_peft` trains a LoRA
or prompt-tuning adapter instead of every weight (`finetune.adapters`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Literal

import datasets
from datasets import DatasetDict
from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, default_data_collator

from toolkit.causal_lm import context_length
from toolkit.cli import require_at_least_one
from toolkit.columns import check_text_column
from toolkit.datafiles import BUILDERS, check_data_file, load_data_file, load_raw_splits
from toolkit.device import cuda_usable
from toolkit.errors import UserError
from toolkit.models import ModelArguments, align_pad_token, load_model, load_tokenizer, resolve_model_name

from .adapters import PeftArguments, add_adapter, quantization_kwargs, save_merged, trainable_parameters
from .instructions import data_format, documents_as_examples, example_collator, tokenize_instructions
from .training import FinetuneTrainingArguments, finish_run, log_metrics, quiet_logs, start_run, train_and_save

LM_BUILDERS = {**BUILDERS, ".txt": "text"}


class _DefaultLossNotice(logging.Filter):
    """Drops one Transformers notice: `*LMHeadModel` classes (GPT-2) match no loss name, so Transformers says
    `loss_type=None` "is unrecognized" and uses the causal-LM loss, which is the right one. (Setting
    `loss_type` ourselves instead changes how the `Trainer` averages the loss over padded batches.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("`loss_type=None` was set in the config but it is unrecognized")


logging.getLogger("transformers.modeling_utils").addFilter(_DefaultLossNotice())
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
    packing: bool = field(
        default=False,
        metadata={"help": "Padding-free batches: examples flattened into one row, positions restarting at each example "
                  "(no attention across examples). Plain text then keeps each document apart instead of joining them."},
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
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Re-tokenize instead of reusing the datasets cache."})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "Where `datasets` keeps its cache."})

    def __post_init__(self):
        require_at_least_one(self, "block_size", "max_train_samples", "max_eval_samples", "validation_split_percentage")


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


def perplexity(loss: float) -> float:
    """exp(mean token cross-entropy), inf when it overflows."""
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def train_causal_lm(model_args: ModelArguments, data_args: LMDataArguments, training_args: FinetuneTrainingArguments,
                    peft_args: PeftArguments | None = None, callbacks: Sequence[TrainerCallback] = ()) -> dict[str, float]:
    """Fine-tune a causal LM (or, with `peft_args.use_peft`, an adapter); report evaluation loss and perplexity
    before and after training.

    Saves model (or adapter), tokenizer and `all_results.json` (`eval_loss`, `eval_perplexity`,
    `eval_before_training_perplexity`, `train_runtime`, `trainable_parameters`, ...) to `output_dir`,
    which then loads in `pipeline("text-generation", model=output_dir)`, like a LoRA adapter directory does.
    `callbacks` join the `Trainer`'s; one with a `prepare(model, validation_examples)` method gets the validation
    examples before training (e.g. `emergence_lab.ICLTrackingCallback`, which may refuse them).
    """
    peft_args = peft_args or PeftArguments()
    if peft_args.use_peft and peft_args.peft_type == "prompt_tuning" and data_args.packing:
        raise UserError("--packing cannot be combined with prompt tuning: the virtual tokens go before each row, not each example; drop --packing")
    output_dir, need = start_run(training_args)
    need = tuple(split for split in need if split != "test")
    splits = load_text_splits(data_args, need, seed=training_args.seed)
    kind = split_format(next(iter(splits.values())), data_args) if splits else "text"
    if kind == "text" and data_args.completion_only_loss:
        raise UserError("--completion_only_loss needs instruction data (prompt/completion or messages columns); plain text has no completion")
    tokenizer = load_tokenizer(model_args)
    model = load_model(AutoModelForCausalLM, model_args, **quantization_kwargs(peft_args), **_device_map(peft_args))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 has none; padded positions are masked anyway
    align_pad_token(model, tokenizer)
    context = context_length(model)
    virtual = peft_args.num_virtual_tokens if peft_args.use_peft and peft_args.peft_type == "prompt_tuning" else 0
    block_size = data_args.block_size or default_block_size(model, tokenizer) - virtual
    if context and block_size + virtual > context:
        also = f" (plus {virtual} virtual tokens)" if virtual else ""
        raise UserError(f"--block_size {block_size}{also} is longer than the model's context of {context} tokens; pass --block_size {context - virtual} or less")
    with training_args.main_process_first(desc="tokenization"):
        if kind == "text":
            examples = tokenize_into_blocks(splits, tokenizer, block_size, data_args)
        else:
            completion_only = data_args.completion_only_loss is not False
            examples = tokenize_instructions(splits, tokenizer, kind, instruction_columns(data_args, kind), block_size, completion_only,
                                             data_args.preprocessing_num_workers, not data_args.overwrite_cache)
    for split, limit_rows in (("train", data_args.max_train_samples), ("validation", data_args.max_eval_samples)):
        if split in examples and limit_rows is not None:
            examples[split] = examples[split].select(range(min(limit_rows, len(examples[split]))))
    if peft_args.use_peft:
        model = add_adapter(model, peft_args, "CAUSAL_LM", resolve_model_name(model_args.tokenizer_name or model_args.model_name_or_path))
    for callback in callbacks:  # before the Trainer, which creates the output directory
        if hasattr(callback, "prepare"):
            callback.prepare(model, examples.get("validation"))

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=examples.get("train"),
        eval_dataset=examples.get("validation"),
        processing_class=tokenizer,
        data_collator=lm_collator(tokenizer, kind, data_args.packing, training_args),
        callbacks=list(callbacks),
    )
    quiet_logs(trainer)
    trainable, total = trainable_parameters(model)
    results: dict[str, float] = {"block_size": block_size, "data_format": kind, "packing": data_args.packing,
                                 "trainable_parameters": trainable, "total_parameters": total}
    if peft_args.use_peft:
        results["peft_type"] = peft_args.peft_type
    if training_args.do_eval and (training_args.evaluate_before_training or training_args.do_train):
        before = trainer.evaluate(metric_key_prefix="eval_before_training")
        results.update(before, eval_before_training_perplexity=perplexity(before["eval_before_training_loss"]))
    if training_args.do_train:
        results.update(train_and_save(trainer))
    if training_args.do_eval:
        metrics = trainer.evaluate()
        metrics.update(eval_perplexity=perplexity(metrics["eval_loss"]), eval_samples=len(examples["validation"]))
        log_metrics(trainer, "eval", metrics)
        results.update(metrics)
    if peft_args.merge_adapter and training_args.do_train and trainer.is_world_process_zero():
        results["merged_model_dir"] = str(save_merged(trainer.model, tokenizer, output_dir))
    return finish_run(trainer, output_dir, results)


def lm_collator(tokenizer, kind: str, packing: bool, training_args: FinetuneTrainingArguments):
    """Blocks of plain text are already equal-length; examples are padded, or flattened with `packing`."""
    if kind == "text" and not packing:
        return default_data_collator
    multiple = 8 if training_args.fp16 or training_args.bf16 else None
    return example_collator(tokenizer, packing, pad_to_multiple_of=multiple)


def _device_map(peft_args: PeftArguments) -> dict:
    """A 4-bit model cannot be moved after loading: put it on this process's GPU from the start."""
    if peft_args.use_peft and peft_args.load_in_4bit and cuda_usable():
        from accelerate import PartialState

        return {"device_map": {"": PartialState().local_process_index}}
    return {}
