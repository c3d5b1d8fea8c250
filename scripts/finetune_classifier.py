#!/usr/bin/env python
"""Fine-tune an encoder (DistilBERT, BERT, MiniLM, ...) for text classification.

    python scripts/finetune_classifier.py --model_name_or_path distilbert-base-uncased \
        --train_file train.csv --validation_file dev.csv --do_train --do_eval --output_dir out/sentiment
    python scripts/finetune_classifier.py my_config.yaml     # the same options from a file

Writes the model, tokenizer and `all_results.json` to --output_dir; with --do_predict and
--test_file, also `predictions.jsonl`. --use_peft trains a LoRA adapter on the encoder and the head in full
(--merge_adapter also writes the merged model to <output_dir>/merged). Run with --help for every option.
"""

from finetune_toolkit.commands.classify import main  # the same function as `finetune-toolkit classify`
from toolkit.cli import run_script

if __name__ == "__main__":
    run_script(main)
