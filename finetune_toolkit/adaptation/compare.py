"""Adaptation methods side by side on the same data and model: 0-shot and k-shot in-context learning
(calibrated and not), prompt tuning, LoRA and full fine-tuning.

Every method is judged the same way (`finetune_toolkit.adaptation.tasks`). Classification: the validation sentences rendered with the
task's template, the label chosen by log-probability of its verbalizer word (`prompts.FewShotClassifier`, 0-shot for
the trained models). Generation (`--task generation`, prompt/completion files): answers generated greedily and scored
by `--metric` (ROUGE-L by default, `finetune_toolkit.core.metrics.generation_scores`); k-shot prompts put k training pairs first.
The trained methods learn from the same training pairs (`finetune.instructions`): the loss is on the answer only.
k-shot rows are run with `--num_seeds` demonstration seeds and reported as mean ± standard deviation.

Each finished method is saved to `<output_dir>/methods/<method>.json`, so a rerun of the same command
resumes with the methods that are missing.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from finetune.adapter_training import PeftArguments
from finetune.language_modeling import train_causal_lm
from finetune.lm_data import LMDataArguments
from finetune.training import FinetuneTrainingArguments
from prompts.data import FewShotDataArguments, LabelledExamples
from prompts.template import PromptTemplate
from finetune_toolkit.core.command_line import require_at_least_one
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.jsonio import loads_bounded
from finetune_toolkit.core.models import ModelArguments
from finetune_toolkit.core.outputs import atomic_write_json, atomic_write_jsonl, atomic_write_text, check_plan, running

from .comparison_plot import plot_accuracy_vs_parameters
from .tasks import ClassificationTask, load_task

logger = logging.getLogger(__name__)

PROMPTING = ("zero_shot", "icl", "icl_calibrated")
TRAINED = ("prompt_tuning", "lora", "full")
METHODS = PROMPTING + TRAINED
TABLE_COLUMNS = ["method", "metric", "score", "score_std", "trainable_parameters", "train_seconds", "eval_seconds"]
GENERATION_METRICS = ("rougeL", "rouge1", "rouge2", "rougeLsum", "bleu", "chrf", "exact_match")


@dataclass
class CompareArguments:
    """Which model, task and methods to compare, and how each trained method trains."""

    model_name_or_path: str = field(metadata={"help": "Causal LM: Hub id, directory or packaged:SmolLM2-135M-Instruct."})
    output_dir: str = field(metadata={"help": "Where the table, plot, per-method results and trained runs go."})
    template: str = field(default="sentiment", metadata={"help": "Built-in template name or a template .json/.yaml file."})
    task: str = field(default="classification", metadata={"help": "classification (a template's labels, scored by label "
                      "log-probability) or generation (prompt/completion pairs, answers generated and scored by --metric)."})
    metric: str | None = field(default=None, metadata={"help": f"What the table ranks by: accuracy (classification), or for "
                               f"generation one of {', '.join(GENERATION_METRICS)} (default rougeL)."})
    methods: list[str] | None = field(default=None, metadata={"help": f"Any of: {', '.join(METHODS)} (default: all; icl_calibrated "
                                      "is for classification only)."})
    shots: int = field(default=4, metadata={"help": "Demonstrations per prompt for icl and icl_calibrated."})
    num_seeds: int = field(default=3, metadata={"help": "k-shot rows: demonstrations drawn with this many seeds (from --seed on), "
                           "reported as mean and standard deviation."})
    seed: int = field(default=0, metadata={"help": "Seed for demonstration choice and training."})
    max_new_tokens: int = field(default=32, metadata={"help": "Generation task: new tokens per answer at most (answers end at a newline)."})
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
        if self.task not in ("classification", "generation"):
            raise UserError(f"unknown --task {self.task!r}; choose classification or generation")
        allowed = GENERATION_METRICS if self.task == "generation" else ("accuracy",)
        self.metric = self.metric or allowed[0]
        if self.metric not in allowed:
            raise UserError(f"unknown --metric {self.metric!r} for --task {self.task}; choose from: {', '.join(allowed)}")
        if self.methods is None:
            self.methods = [m for m in METHODS if not (self.task == "generation" and m == "icl_calibrated")]
        if self.task == "generation" and "icl_calibrated" in self.methods:
            raise UserError("icl_calibrated calibrates label probabilities; it has no meaning for --task generation, drop it")
        require_at_least_one(self, "num_seeds", "max_new_tokens")
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
    return ClassificationTask(template, examples, examples).training_rows()


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
    plan = {"model": args.model_name_or_path, "task": args.task, "metric": args.metric, "template": args.template,
            "shots": args.shots, "num_seeds": args.num_seeds, "seed": args.seed, "max_new_tokens": args.max_new_tokens,
            "train_file": data.train_file, "validation_file": data.validation_file, "max_train_samples": data.max_train_samples,
            "max_eval_samples": data.max_eval_samples}
    task = load_task(args, data)
    check_plan(output_dir, plan, args.overwrite_output_dir, "a comparison with other data or model", results=("methods", "runs", "predictions"))
    train_file = atomic_write_jsonl(output_dir / "data" / "train.jsonl", task.training_rows())
    rows, methods = [], [m for m in METHODS if m in args.methods]
    with running(output_dir, "compare", methods, "methods/{}.json"):
        for method in methods:
            record = output_dir / "methods" / f"{method}.json"
            if record.is_file():
                row = loads_bounded(record.read_text(encoding="utf-8"))
                logger.info("%s: done earlier (%s %.4f)", method, row["metric"], row["score"])
            else:
                row = _run_method(method, args, task, train_file, output_dir)
                atomic_write_json(record, row)
            spread = f" ± {row['score_std']:.4f}" if row.get("score_std") is not None else ""
            print(f"{method}: {row['metric']} {row['score']:.4f}{spread}, {row['trainable_parameters']:,} trainable parameters, "
                  f"{row['train_seconds']:.0f} s training", flush=True)
            rows.append(row)
    write_comparison(output_dir, rows, plan, task.label_names)
    return rows


def _run_method(method: str, args: CompareArguments, task, train_file: Path, output_dir: Path) -> dict:
    row = {"method": method, "metric": args.metric, "trainable_parameters": 0, "train_seconds": 0.0, "score_std": None}
    if method in PROMPTING:
        shots = 0 if method == "zero_shot" else args.shots
        seeds = [args.seed] if shots == 0 else [args.seed + i for i in range(args.num_seeds)]  # as sweeps do: mean ± std
        results = [task.score(args.model_name_or_path, shots, seed, calibrate=method == "icl_calibrated") for seed in seeds]
        scores = [score for score, _, _ in results]
        row.update(score=statistics.mean(scores), score_std=statistics.stdev(scores) if len(scores) > 1 else None,
                   eval_seconds=sum(seconds for _, seconds, _ in results), shots=shots, seeds=seeds, scores=scores)
        for seed, (_, _, examples) in zip(seeds, results):  # per-example files, for the report page
            atomic_write_jsonl(output_dir / "predictions" / f"{method}__seed{seed}.jsonl", examples)
    else:
        run_dir = output_dir / "runs" / method
        row.update(_train(method, args, train_file, run_dir))
        row["score"], row["eval_seconds"], examples = task.score(str(run_dir), 0, args.seed)
        atomic_write_jsonl(output_dir / "predictions" / f"{method}.jsonl", examples)
    if args.task == "classification":
        row["accuracy"] = row["score"]
    return row


def write_comparison(output_dir: Path, rows: list[dict], plan: dict, label_names: list[str] | None = None) -> None:
    """`comparison.json` (plan, rows and the task's label names), `comparison.md` (the table) and
    `accuracy_vs_parameters.png`."""
    atomic_write_json(output_dir / "comparison.json", {"plan": plan, "methods": rows, "label_names": label_names})
    atomic_write_text(output_dir / "comparison.md", comparison_table(rows))
    plot_accuracy_vs_parameters(rows, output_dir / "accuracy_vs_parameters.png",
                                title=f"{plan['model']} on {Path(plan['validation_file'] or 'validation').name}")


def comparison_table(rows: list[dict]) -> str:
    """A Markdown table, one row per method (k-shot rows: mean ± standard deviation over the seeds)."""
    metric = rows[0]["metric"] if rows else "accuracy"
    lines = [f"| method | validation {metric} | trainable parameters | training seconds | evaluation seconds |", "|---|---|---|---|---|"]
    for row in rows:
        score = f"{row['score']:.4f}" + (f" ± {row['score_std']:.4f}" if row.get("score_std") is not None else "")
        lines.append(f"| {row['method']} | {score} | {row['trainable_parameters']:,} | {row['train_seconds']:.0f} | {row['eval_seconds']:.0f} |")
    return "\n".join(lines) + "\n"
