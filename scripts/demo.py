#!/usr/bin/env python
"""`make demo`: fine-tune the packaged MiniLM encoder on the shipped movie reviews, offline.

Prints the test accuracy of the pretrained encoder with a fresh (untrained) classification head,
then after fine-tuning, and classifies a few new sentences with `pipeline("text-classification")`.
The model is saved to outputs/demo-sentiment (replaced on every run).
"""

from dataclasses import dataclass, field

from finetune.classification import FinetuneTrainingArguments, train_classifier
from finetune.cli import format_table, parse_args, run_script
from finetune.data import MOVIE_REVIEW_LABELS, DataArguments, movie_review_files
from finetune.models import ModelArguments

EXAMPLES = [
    "An absolute joy, with a cast at the top of its game.",
    "Two hours of my life I will never get back.",
    "The plot is thin, but the performances make it worth a look.",
]


@dataclass
class DemoArguments:
    model_name_or_path: str = field(default="packaged:all-MiniLM-L6-v2", metadata={"help": "Encoder to fine-tune."})
    output_dir: str = field(default="outputs/demo-sentiment", metadata={"help": "Where the fine-tuned model goes (replaced)."})
    num_train_epochs: float = field(default=4, metadata={"help": "Training epochs."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak learning rate."})
    seed: int = field(default=42, metadata={"help": "Random seed."})


def main(argv=None) -> dict:
    (demo,) = parse_args((DemoArguments,), argv)
    files = movie_review_files()
    print(f"Fine-tuning {demo.model_name_or_path} on {files['train']} (320 reviews), testing on 120 others\n")
    metrics = train_classifier(
        ModelArguments(model_name_or_path=demo.model_name_or_path),
        DataArguments(train_file=files["train"], validation_file=files["test"], class_names=",".join(MOVIE_REVIEW_LABELS)),
        FinetuneTrainingArguments(
            output_dir=demo.output_dir,
            overwrite_output_dir=True,
            do_train=True,
            do_eval=True,
            evaluate_before_training=True,
            num_train_epochs=demo.num_train_epochs,
            learning_rate=demo.learning_rate,
            per_device_train_batch_size=16,
            per_device_eval_batch_size=64,
            warmup_steps=10,
            save_strategy="no",
            logging_steps=10,
            seed=demo.seed,
        ),
    )
    rows = [
        {"": "before fine-tuning", "accuracy": metrics["eval_before_training_accuracy"], "f1": metrics["eval_before_training_f1"]},
        {"": "after fine-tuning", "accuracy": metrics["eval_accuracy"], "f1": metrics["eval_f1"]},
    ]
    print("\nSentiment on the 120 held-out reviews:")
    print(format_table(rows, ["", "accuracy", "f1"]))
    print(f"(training took {metrics['train_runtime']:.0f} s)\n")

    from transformers import pipeline

    classifier = pipeline("text-classification", model=demo.output_dir)
    for text, prediction in zip(EXAMPLES, classifier(EXAMPLES)):
        print(f"{prediction['label']:>8} ({prediction['score']:.2f})  {text}")
    return metrics


if __name__ == "__main__":
    run_script(main)
