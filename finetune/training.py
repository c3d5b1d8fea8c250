"""The one run routine every training task goes through, like nanoGPT's `train.py` read top to bottom:
start (`start_run`: resume, check the output directory, wait for every process, seed), load and adapt (the task's
own: data, model, adapter), then `run_training`: build the `Trainer`, evaluate before, train and save (Ctrl-C names
the checkpoint to resume from), evaluate, predict, merge the adapter, and finish with `all_results.json`.

Classification (`classification.py`), causal LMs (`language_modeling.py`) and the emergence lab's experiments keep
only what differs, in `RunParts`: their data, model, collator and metrics.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from accelerate import PartialState
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback

from finetune_toolkit.core.device import cuda_usable
from finetune_toolkit.core.errors import Interrupted, UserError
from finetune_toolkit.core.outputs import atomic_write_json, check_output_dir
from finetune_toolkit.core.progress import ProgressLogCallback

from .adapter_training import PeftArguments, save_merged, trainable_parameters
from .checkpoints import last_complete_checkpoint, resume_point
from .scoring_trainer import ScoringTrainer


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
        check_reporters(self.report_to)


# --report_to NAME -> (what Transformers checks, the package to install); the extra is named for tensorboard only.
REPORTER_PACKAGES = {
    "tensorboard": ("is_tensorboard_available", "'finetune-toolkit[tensorboard]' (or pip install tensorboard)"),
    "wandb": ("is_wandb_available", "wandb"), "mlflow": ("is_mlflow_available", "mlflow"),
    "comet_ml": ("is_comet_available", "comet_ml"), "neptune": ("is_neptune_available", "neptune"),
    "clearml": ("is_clearml_available", "clearml"), "azure_ml": ("is_azureml_available", "azureml-core"),
    "codecarbon": ("is_codecarbon_available", "codecarbon"), "dagshub": ("is_dagshub_available", "dagshub"),
    "dvclive": ("is_dvclive_available", "dvclive"), "swanlab": ("is_swanlab_available", "swanlab"),
    "trackio": ("is_trackio_available", "trackio"), "flyte": ("is_flytekit_available", "flytekit"),
    "kubeflow": ("is_kubeflow_available", "kubeflow"),
}


def check_reporters(report_to: list[str] | str | None) -> None:
    """Refuse a `--report_to` integration whose package is not installed, naming what to install, before anything
    is written (the `Trainer` would fail only once it starts)."""
    from transformers.integrations import integration_utils

    for name in [report_to] if isinstance(report_to, str) else report_to or []:
        if name in ("none", "all") or name not in REPORTER_PACKAGES:
            continue
        check, package = REPORTER_PACKAGES[name]
        if not getattr(integration_utils, check)():
            raise UserError(f"--report_to {name} needs the {name} package, which is not installed; pip install {package}, "
                            "or pass --report_to none")


def check_hardware_flags(fp16: bool, bf16: bool, torch_compile: bool, use_cpu: bool = False) -> None:
    """Refuse precision and compilation flags the chosen device cannot honour, with the reason and the fix."""
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


def start_run(args: FinetuneTrainingArguments) -> tuple[Path, tuple[str, ...]]:
    """Check everything about the run's output before any work: returns the output directory and the splits needed.

    A run that stopped before finishing resumes from its last complete checkpoint; a non-empty directory is
    refused without `--overwrite_output_dir`; under `accelerate launch` no process writes before every
    process has checked; the seed is set.
    """
    args.resume_from_checkpoint = resume_point(args.output_dir, args.resume_from_checkpoint, args.overwrite_output_dir, args.do_train)
    output_dir = check_output_dir(args.output_dir, args.overwrite_output_dir or bool(args.resume_from_checkpoint))
    PartialState().wait_for_everyone()
    need = splits_needed(args)
    set_seed(args.seed)
    return output_dir, need


@runtime_checkable
class PreparesForTraining(Protocol):
    """A callback that must see the model and the validation examples before training starts (and may refuse
    them, before anything is written): `finetune_toolkit.emergence.ICLTrackingCallback`."""

    def prepare(self, model, validation_examples) -> None: ...


@dataclass
class RunParts:
    """What one task brings to `run_training`; everything else is the same for every task.

    `report` holds the task's facts for `all_results.json` (block size, data format, ...); `evaluation_extras`
    adds task metrics to an evaluation's (perplexity from the loss); `evaluation_scores(trainer)` computes scores
    from the model itself at every evaluation (generated answers), added before the evaluation is logged;
    `after_training` and `predict` are the task's own steps (classification writes its labels and predictions).
    """

    model: Any
    tokenizer: Any
    train_dataset: Any = None
    eval_dataset: Any = None
    data_collator: Any = None
    compute_metrics: Callable | None = None
    preprocess_logits_for_metrics: Callable | None = None
    callbacks: Sequence[TrainerCallback] = ()
    report: dict = field(default_factory=dict)
    evaluate_before_training: bool = False
    evaluation_extras: Callable[[dict, str], dict] | None = None
    evaluation_scores: Callable[[Trainer], dict] | None = None
    after_training: Callable[[Trainer], None] | None = None
    predict: Callable[[Trainer], dict] | None = None
    kept_logits: Any = None  # a causal LM's loss from its labelled positions only (`finetune.kept_logits.KeptLogits`)


def run_training(args: FinetuneTrainingArguments, output_dir: Path, parts: RunParts, peft_args: PeftArguments | None = None) -> dict:
    """The middle and end of every run, top to bottom: build the `Trainer`, evaluate before, train and save,
    evaluate, predict, merge the adapter, write `all_results.json`. Returns what `all_results.json` holds."""
    for callback in parts.callbacks:
        if isinstance(callback, PreparesForTraining):  # before the Trainer, which creates the output directory
            callback.prepare(parts.model, parts.eval_dataset)
    trainer = ScoringTrainer(model=parts.model, args=args, train_dataset=parts.train_dataset, eval_dataset=parts.eval_dataset,
                             processing_class=parts.tokenizer, data_collator=parts.data_collator,
                             compute_metrics=parts.compute_metrics, preprocess_logits_for_metrics=parts.preprocess_logits_for_metrics,
                             callbacks=list(parts.callbacks), evaluation_scores=parts.evaluation_scores, kept_logits=parts.kept_logits)
    quiet_logs(trainer)
    if not sys.stderr.isatty():  # the Trainer's bar is off in a log file: plain lines instead
        trainer.add_callback(ProgressLogCallback())
    trainable, total = trainable_parameters(parts.model)
    results = {"trainable_parameters": trainable, "total_parameters": total, **parts.report}
    if peft_args is not None and peft_args.use_peft:
        results["peft_type"] = peft_args.peft_type
    if args.do_eval and (args.evaluate_before_training or (parts.evaluate_before_training and args.do_train)):
        results.update(_evaluate(trainer, parts, "eval_before_training"))
    if args.do_train:
        results.update(train_and_save(trainer))
        if parts.after_training and trainer.is_world_process_zero():
            parts.after_training(trainer)
    if args.do_eval:
        metrics = _evaluate(trainer, parts, "eval")
        log_metrics(trainer, "eval", metrics)
        results.update(metrics)
    if args.do_predict and parts.predict:
        results.update(parts.predict(trainer))
    if peft_args is not None and peft_args.merge_adapter and args.do_train and trainer.is_world_process_zero():
        results["merged_model_dir"] = str(save_merged(trainer.model, parts.tokenizer, output_dir))
    return finish_run(trainer, output_dir, results)


def _evaluate(trainer: Trainer, parts: RunParts, prefix: str) -> dict:
    metrics = trainer.evaluate(metric_key_prefix=prefix)
    if parts.evaluation_extras:
        metrics.update(parts.evaluation_extras(metrics, prefix))
    if prefix == "eval":
        metrics["eval_samples"] = len(parts.eval_dataset)
    return metrics


def pad_to_multiple(args: TrainingArguments) -> int | None:
    """Pad batches to a multiple of 8 in half precision (tensor cores want it), not at all in float32."""
    return 8 if args.fp16 or args.bf16 else None


def finish_run(trainer: Trainer, output_dir: Path, results: dict) -> dict:
    """Write `all_results.json` (from the main process only) and return `results`."""
    if trainer.is_world_process_zero():
        atomic_write_json(output_dir / "all_results.json", results)
    return results
