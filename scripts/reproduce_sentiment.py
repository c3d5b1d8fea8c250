#!/usr/bin/env python
"""Reproduce the classic BERT sentiment example (SST-2) with a named preset.

    python scripts/reproduce_sentiment.py --preset bert-sentiment          # bert-base-uncased on SST-2 (Hub)
    python scripts/reproduce_sentiment.py --preset distilbert-sentiment \
        --model_name_or_path packaged:all-MiniLM-L6-v2 \
        --train_file sst2/train.jsonl --validation_file sst2/validation.jsonl   # offline

Presets (see `finetune/presets.py`) set the model and hyperparameters; any flag given after
them wins. Without --train_file or --dataset_name the data is SST-2 from the Hub (GLUE).
"""

from finetune_toolkit.commands.reproduce import main  # the same function as `finetune-toolkit reproduce`
from toolkit.cli import run_script

if __name__ == "__main__":
    run_script(main)
