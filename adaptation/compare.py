"""Adaptation methods side by side on the same data and model: 0-shot and k-shot in-context learning
(calibrated and not), prompt tuning, LoRA and full fine-tuning.

Every method is judged the same way: the validation sentences rendered with the task's template, the
label chosen by log-probability of its verbalizer word (`prompts.FewShotClassifier`, 0-shot for the trained
models). The trained methods learn from the same training examples, rendered with the same template as
prompt/completion pairs (`finetune.instructions`): the loss is on the label word and EOS only.

Each finished method is saved to `<output_dir>/methods/<method>.json`, so a rerun of the same command
resumes with the methods that are missing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from finetune.adapter_training import PeftArguments
from finetune.language_modeling import train_causal_lm
from finetune.lm_data import LMDataArguments
from finetune.training import FinetuneTrainingArguments
from prompts.classifier import FewShotClassifier
from prompts.data import FewShotDataArguments, LabelledExamples, load_fewshot_data
from prompts.run_types import FewShotConfig
from prompts.template import PromptTemplate, load_template
from toolkit.causal_lm import load_generator
from toolkit.cli import require_at_least_one
from toolkit.errors import UserError
from toolkit.jsonio import loads_bounded
from toolkit.models import ModelArguments
from toolkit.outputs import atomic_write_json, atomic_write_jsonl, atomic_write_text, check_plan

from .comparison_plot import plot_accuracy_vs_parameters

logger = logging.getLogger(__name__)

PROMPTING = ("zero_shot", "icl", "icl_calibrated")
TRAINED = ("prompt_tuning", "lora", "full")
METHODS = PROMPTING + TRAINED
TABLE_COLUMNS = ["method", "accuracy", "trainable_parameters", "train_seconds", "eval_seconds"]


@dataclass
class CompareArguments:
    """Which model, task and methods to compare, and how each trained method trains."""

    model_name_or_path: str = field(metadata={"help": "Causal LM: Hub id, directory or packaged:SmolLM2-135M-Instruct."})
    output_dir: str = field(metadata={"help": "Where the table, plot, per-method results and trained runs go."})
    template: str = field(default="sentiment", metadata={"help": "Built-in template name or a template .json/.yaml file."})
    methods: list[str] = field(default_factory=lambda: list(METHODS), metadata={"help": f"Any of: {', '.join(METHODS)}."})
    shots: int = field(default=4, metadata={"help": "Demonstrations per prompt for icl and icl_calibrated."})
    seed: int = field(default=0, metadata={"help": "Seed for demonstration choice and training."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs for every trained method."})
    per_device_train_batch_size: int = field(default=16, metadata={"help": "Training batch size."})
    lora_learning_rate: float = field(default=5e-4, metadata={"help": "Learning rate for LoRA."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    prompt_tuning_learning_rate: float = field(default=3e-2, metadata={"help": "Learning rate for prompt tuning."})
    num_virtual_tokens: int = field(default=20, metadata={"help": "Prompt tuning: trained virtual tokens."})
    full_learning_rate: float = field(default=2e-5, metadata={"help": "Learning rate for full fine-tuning."})
    packing: bool = field(default=True, metadata={"help": "Padding-free batches for LoRA and full fine-tuning."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Start over in a non-empty --output_dir."})

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise UserError(f"unknown --methods {' '.join(unknown)}; choose from: {', '.join(METHODS)}")
        if not self.methods:
            raise UserError(f"no --methods given; choose from: {', '.join(METHODS)}")
        require_at_least_one(self, "shots", "per_device_train_batch_size", "lora_r", "num_virtual_tokens")
        if self.num_train_epochs <= 0:
            raise UserError(f"--num_train_epochs must be positive, got {self.num_train_epochs}")


def training_examples(template: PromptTemplate, examples: LabelledExamples) -> list[dict]:
    """Prompt/completion rows: the 0-shot prompt the classifier scores, and the delimiter plus label word."""
    words = template.verbalizer
    return [{"prompt": template.render_prompt(values), "completion": template.target_delimiter + words.word(label)}
            for values, label in zip(examples.fields, examples.labels)]


def score_method(model_dir: str, template: PromptTemplate, evaluation: LabelledExamples, config: FewShotConfig,
             pool: LabelledExamples | None = None) -> dict:
    """Accuracy of the label chosen by log-probability (and, with `config.calibrate`, after calibration)."""
    model, tokenizer = load_generator(model_dir)
    start = time.perf_counter()
    result = FewShotClassifier(model, tokenizer, template, pool, config).predict(evaluation.fields)
    seconds = time.perf_counter() - start

    def accuracy(predictions):
        return sum(p == y for p, y in zip(predictions, evaluation.labels)) / len(evaluation.labels)

    scores = {"accuracy": accuracy(result.predictions), "eval_seconds": seconds}
    if result.calibrated_predictions is not None:
        scores["calibrated_accuracy"] = accuracy(result.calibrated_predictions)
    return scores


def _train(method: str, args: CompareArguments, train_file: Path, run_dir: Path) -> dict:
    if method == "prompt_tuning":
        peft = PeftArguments(use_peft=True, peft_type="prompt_tuning", num_virtual_tokens=args.num_virtual_tokens)
        learning_rate = args.prompt_tuning_learning_rate
    elif method == "lora":
        peft, learning_rate = PeftArguments(use_peft=True, lora_r=args.lora_r, lora_alpha=2 * args.lora_r), args.lora_learning_rate
    else:
        peft, learning_rate = PeftArguments(), args.full_learning_rate
    training = FinetuneTrainingArguments(
        output_dir=str(run_dir), do_train=True, num_train_epochs=args.num_train_epochs, learning_rate=learning_rate,
        per_device_train_batch_size=args.per_device_train_batch_size, lr_scheduler_type="linear", warmup_steps=0.05,
        save_strategy="steps", save_steps=50, save_total_limit=1, logging_steps=25, seed=args.seed, report_to="none",
        print_metrics=False,
    )
    data = LMDataArguments(train_file=str(train_file), packing=args.packing and method != "prompt_tuning")
    metrics = train_causal_lm(ModelArguments(args.model_name_or_path), data, training, peft)
    return {"trainable_parameters": metrics["trainable_parameters"], "total_parameters": metrics["total_parameters"],
            "train_seconds": metrics["train_runtime"], "train_samples_per_second": metrics["train_samples_per_second"],
            "learning_rate": learning_rate, "num_train_epochs": args.num_train_epochs, "packing": data.packing}


def compare_methods(args: CompareArguments, data: FewShotDataArguments) -> list[dict]:
    """Run every method in `args.methods` (skipping those already finished in `output_dir`); write the table
    (`comparison.md`, `comparison.json`) and the plot (`accuracy_vs_parameters.png`); return the rows."""
    output_dir = Path(args.output_dir)
    plan = {"model": args.model_name_or_path, "template": args.template, "shots": args.shots, "seed": args.seed,
            "train_file": data.train_file, "validation_file": data.validation_file, "max_train_samples": data.max_train_samples,
            "max_eval_samples": data.max_eval_samples}
    template = load_template(args.template)
    pool, evaluation = load_fewshot_data(data, template, need_pool=True)
    if pool is None:
        raise UserError("the trained methods and in-context learning need training data; pass --train_file")
    check_plan(output_dir, plan, args.overwrite_output_dir, "a comparison with other data or model", results=("methods", "runs"))
    train_file = atomic_write_jsonl(output_dir / "data" / "train.jsonl", training_examples(template, pool))

    rows = []
    for method in METHODS:
        if method not in args.methods:
            continue
        record = output_dir / "methods" / f"{method}.json"
        if record.is_file():
            row = loads_bounded(record.read_text(encoding="utf-8"))
            logger.info("%s: done earlier (accuracy %.4f)", method, row["accuracy"])
        else:
            row = _run_method(method, args, template, pool, evaluation, train_file, output_dir)
            atomic_write_json(record, row)
        print(f"{method}: accuracy {row['accuracy']:.4f}, {row['trainable_parameters']:,} trainable parameters, "
              f"{row['train_seconds']:.0f} s training", flush=True)
        rows.append(row)
    write_comparison(output_dir, rows, plan)
    return rows


def _run_method(method, args, template, pool, evaluation, train_file, output_dir) -> dict:
    row = {"method": method, "trainable_parameters": 0, "train_seconds": 0.0}
    if method in PROMPTING:
        shots = 0 if method == "zero_shot" else args.shots
        config = FewShotConfig(shots=shots, seed=args.seed, calibrate=method == "icl_calibrated")
        scores = score_method(args.model_name_or_path, template, evaluation, config, pool)
        row.update(accuracy=scores["calibrated_accuracy" if method == "icl_calibrated" else "accuracy"],
                   eval_seconds=scores["eval_seconds"], shots=shots)
        return row
    run_dir = output_dir / "runs" / method
    row.update(_train(method, args, train_file, run_dir))
    scores = score_method(str(run_dir), template, evaluation, FewShotConfig(shots=0))
    row.update(accuracy=scores["accuracy"], eval_seconds=scores["eval_seconds"])
    return row


def write_comparison(output_dir: Path, rows: list[dict], plan: dict) -> None:
    """`comparison.json` (plan and rows), `comparison.md` (the table) and `accuracy_vs_parameters.png`."""
    atomic_write_json(output_dir / "comparison.json", {"plan": plan, "methods": rows})
    atomic_write_text(output_dir / "comparison.md", comparison_table(rows))
    plot_accuracy_vs_parameters(rows, output_dir / "accuracy_vs_parameters.png", title=f"{plan['model']} on {Path(plan['validation_file'] or 'validation').name}")


def comparison_table(rows: list[dict]) -> str:
    """A Markdown table, one row per method."""
    lines = ["| method | validation accuracy | trainable parameters | training seconds | evaluation seconds |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['method']} | {row['accuracy']:.4f} | {row['trainable_parameters']:,} | {row['train_seconds']:.0f} | {row['eval_seconds']:.0f} |")
    return "\n".join(lines) + "\n"

