"""Fine-tune an encoder (DistilBERT, BERT, MiniLM, ...) for text classification.

    finetune-toolkit classify --model_name_or_path distilbert-base-uncased \
        --train_file train.csv --validation_file dev.csv --do_train --do_eval --output_dir out/sentiment
    finetune-toolkit classify my_config.yaml     # the same options from a file

Writes the model, tokenizer and `all_results.json` to --output_dir; with --do_predict and
--test_file, also `predictions.jsonl`. --use_peft trains a LoRA adapter on the encoder and the head in full
(--merge_adapter also writes the merged model to <output_dir>/merged). Run with --help for every option.
"""

from finetune.adapter_training import PeftArguments
from finetune.classification import train_classifier
from finetune.data import DataArguments
from finetune.training import FinetuneTrainingArguments
from finetune_toolkit.core.command_line import format_table, parse_args
from finetune_toolkit.core.models import ModelArguments

SUMMARY_KEYS = ["eval_accuracy", "eval_f1", "eval_precision", "eval_recall", "predict_accuracy", "train_runtime", "train_samples_per_second",
                "trainable_parameters"]


def main(argv=None) -> dict:
    model_args, data_args, training_args, peft_args = parse_args(
        (ModelArguments, DataArguments, FinetuneTrainingArguments, PeftArguments), argv
    )
    metrics = train_classifier(model_args, data_args, training_args, peft_args)
    shown = [key for key in SUMMARY_KEYS if key in metrics]
    print(format_table([{key: metrics[key] for key in shown}], shown))
    print(f"Saved to {training_args.output_dir}")
    return metrics

