#!/usr/bin/env python
"""A model-size ladder: GPT-2s from a few thousand to about a million parameters trained from scratch on 3-digit
addition, each scored on held-out problems by exact match and by continuous measures of the same answers.

    python scripts/scaling.py --output_dir outputs/scaling                       # the default ladder, 2 CPU cores
    python scripts/scaling.py --output_dir outputs/scaling-s1 --seed 1 --sizes 1x16 2x48 4x144

Writes scaling.json (settings, one row per size, the sharpness of every measure) and scaling.png; each size's
model, tokenizer and row go to <output_dir>/<size>/. Rerunning the command reads finished sizes back.
"""

from finetune_toolkit.commands.scaling import main  # the same function as `finetune-toolkit scaling`
from toolkit.cli import run_script

if __name__ == "__main__":
    run_script(main)
