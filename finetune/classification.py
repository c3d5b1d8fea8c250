"""Fine-tuning any encoder for text classification with `AutoModelForSequenceClassification` and the `Trainer`."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer, default_data_collator

from finetune_toolkit.core.adapter_loading import LABELS_FILE
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.metrics import compute_classification_metrics
from finetune_toolkit.core.models import ModelArguments, ensure_pad_token, load_model, load_tokenizer
from finetune_toolkit.core.outputs import atomic_write_json, atomic_write_jsonl

from .adapter_training import PeftArguments, add_adapter, quantization_kwargs
from .data import ClassificationData, DataArguments, load_classification_data, tokenize_for_classification
from .training import FinetuneTrainingArguments, RunParts, log_metrics, pad_to_multiple, run_training, start_run

logger = logging.getLogger(__name__)


def train_classifier(
    model_args: ModelArguments, data_args: DataArguments, training_args: FinetuneTrainingArguments,
    peft_args: PeftArguments | None = None,
) -> dict[str, float]:
    """Fine-tune and/or evaluate a sequence classifier; save model, tokenizer, metrics and predictions.

    Everything that can be wrong with the input (output directory, data, model name) is checked
    before anything is written. Returns the metrics, also saved to `<output_dir>/all_results.json`
    under the Trainer's keys (`train_runtime`, `eval_accuracy`, `eval_f1`, ...). With `peft_args.use_peft`
    (LoRA), the encoder gets a LoRA adapter, the new head is trained fully, and `output_dir` holds the adapter.
    """
    peft_args = peft_args or PeftArguments()
    check_classification_peft(peft_args, training_args)
    output_dir, need = start_run(training_args)
    data = load_classification_data(data_args, need, seed=training_args.seed)
    tokenizer = load_tokenizer(model_args)
    model = _load_classifier(model_args, data, peft_args) if training_args.do_train else _load_trained_classifier(model_args, data)
    ensure_pad_token(model, tokenizer)  # decoders used as classifiers (GPT-2) pad with EOS
    if peft_args.use_peft:
        model = add_adapter(model, peft_args, "SEQ_CLS")
    with training_args.main_process_first(desc="tokenization"):
        tokenized = tokenize_for_classification(data, tokenizer, data_args)
    collator = default_data_collator if data_args.pad_to_max_length else \
        DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple(training_args))

    def save_labels(trainer: Trainer) -> None:  # an adapter's base model config lacks the head's labels
        if peft_args.use_peft:
            atomic_write_json(output_dir / LABELS_FILE, model.config.id2label)

    parts = RunParts(model, tokenizer, tokenized.get("train"), tokenized.get("validation"), collator,
                     compute_metrics=compute_classification_metrics, after_training=save_labels,
                     predict=lambda trainer: _predict(trainer, data, tokenized["test"], output_dir))
    return run_training(training_args, output_dir, parts, peft_args)


def check_classification_peft(peft_args: PeftArguments, training_args: FinetuneTrainingArguments) -> None:
    """Classification takes LoRA only, and only to train it."""
    if peft_args.use_peft and peft_args.peft_type != "lora":
        raise UserError(f"--peft_type {peft_args.peft_type} is for causal LMs (scripts/finetune_lm.py); use --peft_type lora for classification")
    if peft_args.use_peft and not training_args.do_train:
        raise UserError("--use_peft trains an adapter and needs --do_train; to evaluate a saved adapter pass its directory as --model_name_or_path")


def _load_classifier(model_args: ModelArguments, data: ClassificationData, peft_args: PeftArguments):
    """The pretrained body with a new head for the data's labels (`id2label`/`label2id` in its config)."""
    return load_model(AutoModelForSequenceClassification, model_args, new_head=True, num_labels=len(data.label_names),
                      id2label=data.id2label, label2id=data.label2id, ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
                      **quantization_kwargs(peft_args))


def _load_trained_classifier(model_args: ModelArguments, data: ClassificationData):
    """Load a classifier for evaluation only, lining the data's label ids up with the model's."""
    model = load_model(AutoModelForSequenceClassification, model_args)
    model_labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if model_labels == data.label_names:
        return model
    if set(model_labels) != set(data.label_names):
        raise UserError(
            f"the model predicts labels {model_labels} but the data has {data.label_names}; evaluate on data with "
            "the model's labels, or pass --do_train to train a new head"
        )
    for split, dataset in data.splits.items():
        if "label" in dataset.column_names:
            data.splits[split] = dataset.align_labels_with_mapping(model.config.label2id, "label")
    data.label_names[:] = model_labels
    return model


def _predict(trainer: Trainer, data: ClassificationData, test_dataset, output_dir: Path) -> dict[str, float]:
    """Predict the test split; write `predictions.jsonl` (text, predicted label, probabilities)."""
    output = trainer.predict(test_dataset, metric_key_prefix="predict")
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    probabilities = _softmax(logits)
    texts = data.splits["test"]
    golds = texts["label"] if "label" in texts.column_names else None
    rows = []
    for i, probs in enumerate(probabilities):
        row = {column: texts[i][column] for column in data.text_columns}
        row["prediction"] = data.label_names[int(probs.argmax())]
        row["probabilities"] = {name: round(float(p), 6) for name, p in zip(data.label_names, probs)}
        if golds is not None:
            row["label"] = data.label_names[golds[i]]
        rows.append(row)
    if trainer.is_world_process_zero():
        atomic_write_jsonl(output_dir / "predictions.jsonl", rows)
    metrics = dict(output.metrics or {}, predict_samples=len(test_dataset))
    log_metrics(trainer, "predict", metrics)
    return metrics


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
