"""Named recipes for `scripts/reproduce_sentiment.py`: the classic BERT sentiment example and friends.

A preset is a set of command-line defaults; flags the user passes after it win.
"""

from __future__ import annotations

from finetune_toolkit.core.errors import UserError

# SST-2 on the Hub (GLUE); used when no local files are given.
SST2_HUB = {"dataset_name": "nyu-mll/glue", "dataset_config_name": "sst2", "text_column": "sentence", "class_names": "negative,positive"}

PRESETS: dict[str, dict[str, object]] = {
    # The BERT fine-tuning example: 3 epochs, batch 16/64, 500 warmup steps, weight decay 0.01, log every 10 steps.
    "bert-sentiment": {
        "model_name_or_path": "bert-base-uncased",
        "num_train_epochs": 3,
        "per_device_train_batch_size": 16,
        "per_device_eval_batch_size": 64,
        "warmup_steps": 500,
        "weight_decay": 0.01,
        "logging_steps": 10,
    },
    "distilbert-sentiment": {
        "model_name_or_path": "distilbert-base-uncased",
        "learning_rate": 3e-5,
        "num_train_epochs": 3,
        "per_device_train_batch_size": 16,
    },
}


def preset_flags(name: str) -> list[str]:
    """The command-line flags a preset stands for (2 labels come from the data)."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    flags: list[str] = []
    for key, value in PRESETS[name].items():
        flags += [f"--{key}", str(value)]
    return flags
