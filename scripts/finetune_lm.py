#!/usr/bin/env python
"""Fine-tune GPT-2 (or any causal LM) on your own text; report perplexity before and after.

    python scripts/finetune_lm.py --model_name_or_path gpt2 --train_file corpus.txt \
        --do_train --do_eval --output_dir out/gpt2-mine
    python scripts/finetune_lm.py my_config.yaml

.txt files hold one document per line (default) or per file (--document_per file); csv/json/jsonl/
parquet files take --text_column. The saved directory loads in pipeline("text-generation").
"""

from finetune.language_modeling import LMDataArguments, train_causal_lm
from finetune.training import FinetuneTrainingArguments
from toolkit.cli import format_table, parse_args, run_script
from toolkit.models import ModelArguments

SUMMARY_KEYS = ["eval_before_training_perplexity", "eval_perplexity", "eval_loss", "train_runtime", "block_size"]


def main(argv=None) -> dict:
    model_args, data_args, training_args = parse_args((ModelArguments, LMDataArguments, FinetuneTrainingArguments), argv)
    metrics = train_causal_lm(model_args, data_args, training_args)
    shown = [key for key in SUMMARY_KEYS if key in metrics]
    print(format_table([{key: metrics[key] for key in shown}], shown))
    print(f"Saved to {training_args.output_dir}")
    return metrics


if __name__ == "__main__":
    run_script(main)
