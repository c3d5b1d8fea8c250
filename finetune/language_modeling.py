"""Fine-tuning a causal LM (GPT-2, Llama, ...) on the user's text or instruction data, through the run routine.

The data side (text cut into blocks, instruction data, packing) is `finetune.lm_data`; `--use_peft` trains a
LoRA or prompt-tuning adapter instead of every weight (`finetune.adapter_training`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from transformers import AutoModelForCausalLM, TrainerCallback, default_data_collator

from finetune_toolkit.core.causal_lm import context_length
from finetune_toolkit.core.device import cuda_usable
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.generation import DecodingArguments
from finetune_toolkit.core.model_names import resolve_model_name
from finetune_toolkit.core.models import ModelArguments, ensure_pad_token, load_model, load_tokenizer

from .adapter_training import PeftArguments, add_adapter, quantization_kwargs
from .instructions import example_collator, tokenize_instructions
from .kept_logits import KeptLogits
from .lm_data import LMDataArguments, default_block_size, instruction_columns, load_text_splits, split_format, tokenize_into_blocks
from .lm_predict import GenerateEvalArguments, generation_steps
from .packed_rows import attention_break_even
from .training import FinetuneTrainingArguments, RunParts, pad_to_multiple, run_training, start_run


class _DefaultLossNotice(logging.Filter):
    """Drops one Transformers notice: `*LMHeadModel` classes (GPT-2) match no loss name, so Transformers says
    `loss_type=None` "is unrecognized" and uses the causal-LM loss, which is the right one. (Setting
    `loss_type` ourselves instead changes how the `Trainer` averages the loss over padded batches.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("`loss_type=None` was set in the config but it is unrecognized")


DEFAULT_LOSS_NOTICE = _DefaultLossNotice()


def perplexity(loss: float) -> float:
    """exp(mean token cross-entropy), inf when it overflows."""
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def train_causal_lm(model_args: ModelArguments, data_args: LMDataArguments, training_args: FinetuneTrainingArguments,
                    peft_args: PeftArguments | None = None, callbacks: Sequence[TrainerCallback] = (),
                    decoding: DecodingArguments | None = None, generate_eval: GenerateEvalArguments | None = None) -> dict[str, float]:
    """Fine-tune a causal LM (or, with `peft_args.use_peft`, an adapter); report evaluation loss and perplexity
    before and after training.

    Saves model (or adapter), tokenizer and `all_results.json` (`eval_loss`, `eval_perplexity`,
    `eval_before_training_perplexity`, `train_runtime`, `trainable_parameters`, ...) to `output_dir`,
    which then loads in `pipeline("text-generation", model=output_dir)`, like a LoRA adapter directory does.
    `callbacks` join the `Trainer`'s; those that are `finetune.training.PreparesForTraining` see the model and the
    validation examples before training (e.g. `finetune_toolkit.emergence.ICLTrackingCallback`, which may refuse them). With
    `--do_predict` and `--eval_with_generate`, answers are generated (`decoding`) and scored (`finetune.lm_predict`).
    """
    peft_args = peft_args or PeftArguments()
    check_lm_options(data_args, peft_args)
    logging.getLogger("transformers.modeling_utils").addFilter(DEFAULT_LOSS_NOTICE)
    output_dir, need = start_run(training_args)
    splits = load_text_splits(data_args, tuple(split for split in need if split != "test"), seed=training_args.seed)
    kind = split_format(next(iter(splits.values())), data_args) if splits else "text"
    if kind == "text" and data_args.completion_only_loss:
        raise UserError("--completion_only_loss needs instruction data (prompt/completion or messages columns); plain text has no completion")
    if data_args.packing is None:  # instruction data: padding-free by default (docs/benchmarks.md, fine-tuning pace)
        data_args.packing = kind != "text" and not (peft_args.use_peft and peft_args.peft_type == "prompt_tuning")
    tokenizer = load_tokenizer(model_args)
    model = load_model(AutoModelForCausalLM, model_args, **quantization_kwargs(peft_args), **_device_map(peft_args))
    ensure_pad_token(model, tokenizer)  # GPT-2 has none: EOS, and padded positions are masked anyway
    block_size = lm_block_size(model, tokenizer, data_args, peft_args)
    with training_args.main_process_first(desc="tokenization"):
        examples = lm_examples(splits, tokenizer, kind, block_size, data_args)
    if peft_args.use_peft:
        model = add_adapter(model, peft_args, "CAUSAL_LM", resolve_model_name(model_args.tokenizer_name or model_args.model_name_or_path))
    generation_scores, predict = generation_steps(training_args, data_args, splits, tokenizer, decoding or DecodingArguments(),
                                                  generate_eval or GenerateEvalArguments(), output_dir)
    parts = RunParts(model, tokenizer, examples.get("train"), examples.get("validation"),
                     lm_collator(model, tokenizer, kind, data_args, training_args), callbacks=callbacks, predict=predict,
                     evaluation_scores=generation_scores,
                     report={"block_size": block_size, "data_format": kind, "packing": data_args.packing},
                     evaluate_before_training=True,
                     evaluation_extras=lambda metrics, prefix: {f"{prefix}_perplexity": perplexity(metrics[f"{prefix}_loss"])},
                     kept_logits=kept_logits(model) if kind != "text" and data_args.kept_logits else None)
    return run_training(training_args, output_dir, parts, peft_args)


def kept_logits(model) -> KeptLogits | None:
    """The loss from labelled positions only, for a model with output embeddings to gather before (else None)."""
    try:
        return KeptLogits(model)
    except ValueError:
        return None


def check_lm_options(data_args: LMDataArguments, peft_args: PeftArguments) -> None:
    """Options that cannot go together, refused before anything is read or written."""
    if peft_args.use_peft and peft_args.peft_type == "prompt_tuning" and data_args.packing:
        raise UserError("--packing cannot be combined with prompt tuning: the virtual tokens go before each row, not each example; drop --packing")


def lm_block_size(model, tokenizer, data_args: LMDataArguments, peft_args: PeftArguments) -> int:
    """`--block_size`, or the model's context less any virtual tokens; refused when it does not fit the context."""
    context = context_length(model)
    virtual = peft_args.num_virtual_tokens if peft_args.use_peft and peft_args.peft_type == "prompt_tuning" else 0
    block_size = data_args.block_size or default_block_size(model, tokenizer) - virtual
    if context and block_size + virtual > context:
        also = f" (plus {virtual} virtual tokens)" if virtual else ""
        raise UserError(f"--block_size {block_size}{also} is longer than the model's context of {context} tokens; pass --block_size {context - virtual} or less")
    return block_size


def lm_examples(splits, tokenizer, kind: str, block_size: int, data_args: LMDataArguments):
    """Training and validation examples: text cut into blocks, or one instruction example per row; `--max_*_samples` applied."""
    if kind == "text":
        examples = tokenize_into_blocks(splits, tokenizer, block_size, data_args)
    else:
        completion_only = data_args.completion_only_loss is not False
        examples = tokenize_instructions(splits, tokenizer, kind, instruction_columns(data_args, kind), block_size, completion_only,
                                         data_args.preprocessing_num_workers, not data_args.overwrite_cache)
    for split, limit_rows in (("train", data_args.max_train_samples), ("validation", data_args.max_eval_samples)):
        if split in examples and limit_rows is not None:
            examples[split] = examples[split].select(range(min(limit_rows, len(examples[split]))))
    return examples


def lm_collator(model, tokenizer, kind: str, data_args: LMDataArguments, training_args: FinetuneTrainingArguments):
    """Blocks of plain text are already equal-length; examples are padded, or flattened with `--packing` into the
    rows that are cheapest for the model's attention (`finetune.packed_rows`; one row with `--split_packed_batches false`)."""
    if kind == "text" and not data_args.packing:
        return default_data_collator
    break_even = attention_break_even(model) if data_args.split_packed_batches else None
    return example_collator(tokenizer, data_args.packing, pad_to_multiple_of=pad_to_multiple(training_args), break_even=break_even)


def _device_map(peft_args: PeftArguments) -> dict:
    """A 4-bit model cannot be moved after loading: put it on this process's GPU from the start."""
    if peft_args.use_peft and peft_args.load_in_4bit and cuda_usable():
        from accelerate import PartialState

        return {"device_map": {"": PartialState().local_process_index}}
    return {}
