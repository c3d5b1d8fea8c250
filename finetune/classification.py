"""Fine-tuning any encoder for text classification with `AutoModelForSequenceClassification` and the `Trainer`."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import PartialState
from transformers import (
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    default_data_collator,
    set_seed,
)

from .checkpoints import last_complete_checkpoint, resume_point
from .device import cuda_usable
from .data import ClassificationData, DataArguments, load_classification_data, tokenize_for_classification
from .errors import Interrupted, UserError
from .metrics import compute_classification_metrics
from .models import ModelArguments, align_pad_token, load_model, load_tokenizer
from .outputs import atomic_write_json, atomic_write_jsonl, check_output_dir

logger = logging.getLogger(__name__)


@dataclass
class FinetuneTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the few options our scripts add."""

    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Write into --output_dir even if it already holds files."}
    )
    group_by_length: bool = field(
        default=False,
        metadata={"help": "Batch inputs of similar length together (less padding, faster; same as "
                  "--train_sampling_strategy group_by_length)."},
    )
    evaluate_before_training: bool = field(
        default=False, metadata={"help": "Also evaluate before training (keys eval_before_training_*)."}
    )
    print_metrics: bool = field(
        default=True, metadata={"help": "Print the metric blocks of each stage (--print_metrics false: only all_results.json)."}
    )

    def __post_init__(self):
        if self.group_by_length:
            self.train_sampling_strategy = "group_by_length"
        check_hardware_flags(self.fp16, self.bf16, self.torch_compile, self.use_cpu)
        if self.disable_tqdm is None and not sys.stderr.isatty():
            self.disable_tqdm = True  # in a log file a bar is hundreds of half-lines; the logged metrics remain
        if cuda_usable(self.use_cpu):
            if self.tf32 is None and torch.cuda.get_device_capability()[0] >= 8:
                self.tf32 = True  # Ampere and newer: float32 matmuls on tensor cores, as PyTorch recommends for training
        else:
            self.dataloader_pin_memory = False  # pinning only helps copies to a GPU
        super().__post_init__()


def check_hardware_flags(fp16: bool, bf16: bool, torch_compile: bool, use_cpu: bool = False) -> None:
    """Refuse precision and compilation flags the chosen device cannot honour, with the reason and the fix."""
    import shutil

    cuda = cuda_usable(use_cpu)
    if fp16 and not cuda:
        raise UserError("--fp16 needs a CUDA GPU and none is in use; drop --fp16 to train in float32")
    if bf16 and not (cuda and torch.cuda.is_bf16_supported()):
        where = "this GPU has no bfloat16 (it needs Ampere or newer); use --fp16" if cuda else "no CUDA GPU is in use; drop --bf16"
        raise UserError(f"--bf16 needs a GPU with bfloat16: {where}")
    if torch_compile and not cuda and not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        raise UserError("--torch_compile needs a CUDA GPU or a C++ compiler for the CPU backend; install g++ or drop --torch_compile")


def splits_needed(args: TrainingArguments) -> tuple[str, ...]:
    """The data splits a run needs, from --do_train / --do_eval / --do_predict."""
    need = tuple(split for split, wanted in (("train", args.do_train), ("validation", args.do_eval), ("test", args.do_predict)) if wanted)
    if not need:
        raise UserError("nothing to do; pass --do_train, --do_eval and/or --do_predict")
    return need


def quiet_logs(trainer: Trainer) -> None:
    """With `--print_metrics false`, no per-log dict lines either (the `Trainer` prints them when bars are off)."""
    if not getattr(trainer.args, "print_metrics", True):
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)


def log_metrics(trainer: Trainer, split: str, metrics: dict) -> None:
    """The `Trainer`'s metric block for `split`, unless `--print_metrics false`."""
    if getattr(trainer.args, "print_metrics", True):
        trainer.log_metrics(split, metrics)


def train_and_save(trainer: Trainer) -> dict[str, float]:
    """Train (resuming when asked), save model, tokenizer and trainer state; return the train metrics."""
    try:
        train_result = trainer.train(resume_from_checkpoint=trainer.args.resume_from_checkpoint)
    except KeyboardInterrupt:
        checkpoint = last_complete_checkpoint(trainer.args.output_dir)
        if checkpoint is None:
            raise Interrupted("stopped by Ctrl-C before the first checkpoint (--save_steps); nothing to resume from") from None
        raise Interrupted(
            f"stopped by Ctrl-C; the last checkpoint is {checkpoint}; run the same command again to resume from it "
            f"(or pass --resume_from_checkpoint {checkpoint})"
        ) from None
    trainer.save_model()
    metrics = dict(train_result.metrics, train_samples=len(trainer.train_dataset))
    log_metrics(trainer, "train", metrics)
    trainer.save_state()
    return metrics


def train_classifier(
    model_args: ModelArguments, data_args: DataArguments, training_args: FinetuneTrainingArguments
) -> dict[str, float]:
    """Fine-tune and/or evaluate a sequence classifier; save model, tokenizer, metrics and predictions.

    Everything that can be wrong with the input (output directory, data, model name) is checked
    before anything is written. Returns the metrics, also saved to `<output_dir>/all_results.json`
    under the Trainer's keys (`train_runtime`, `eval_accuracy`, `eval_f1`, ...).
    """
    training_args.resume_from_checkpoint = resume_point(
        training_args.output_dir, training_args.resume_from_checkpoint, training_args.overwrite_output_dir, training_args.do_train
    )
    output_dir = check_output_dir(
        training_args.output_dir, training_args.overwrite_output_dir or bool(training_args.resume_from_checkpoint)
    )
    # Under `accelerate launch`, no process may write before every process has checked the directory.
    PartialState().wait_for_everyone()
    need = splits_needed(training_args)
    set_seed(training_args.seed)
    data = load_classification_data(data_args, need, seed=training_args.seed)
    tokenizer = load_tokenizer(model_args)
    if training_args.do_train:
        model = load_model(
            AutoModelForSequenceClassification,
            model_args,
            new_head=True,
            num_labels=len(data.label_names),
            id2label=data.id2label,
            label2id=data.label2id,
            ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
        )
    else:
        model = _load_trained_classifier(model_args, data)
    if tokenizer.pad_token is None:
        # Decoder models used as classifiers (GPT-2) have no pad token; pad with EOS.
        tokenizer.pad_token = tokenizer.eos_token
    align_pad_token(model, tokenizer)

    with training_args.main_process_first(desc="tokenization"):
        tokenized = tokenize_for_classification(data, tokenizer, data_args)
    if data_args.pad_to_max_length:
        collator = default_data_collator
    else:
        collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if training_args.fp16 or training_args.bf16 else None)

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=tokenized.get("train"),
        eval_dataset=tokenized.get("validation"),
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=compute_classification_metrics,
    )
    quiet_logs(trainer)
    results: dict[str, float] = {}

    if training_args.evaluate_before_training and training_args.do_eval:
        results.update(trainer.evaluate(metric_key_prefix="eval_before_training"))
    if training_args.do_train:
        results.update(train_and_save(trainer))
    if training_args.do_eval:
        metrics = dict(trainer.evaluate(), eval_samples=len(tokenized["validation"]))
        log_metrics(trainer, "eval", metrics)
        results.update(metrics)
    if training_args.do_predict:
        results.update(_predict(trainer, data, tokenized["test"], output_dir))
    if trainer.is_world_process_zero():
        atomic_write_json(output_dir / "all_results.json", results)
    return results


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
