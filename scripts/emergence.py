#!/usr/bin/env python
"""Watch induction heads form: train 1- and 2-layer GPT-2s (or any layer counts) from scratch on repeated random
spans of varied length, recording the ICL score and every head's prefix-matching score as they train.

    python scripts/emergence.py --output_dir outputs/emergence                 # 1 and 2 layers, about a minute on 2 CPU cores
    python scripts/emergence.py --output_dir outputs/emergence-attn --attention_only --layers 1 2   # Olsson et al.'s case

Writes emergence.json (one row per model, with head ablations), emergence.png (training loss, ICL score and prefix
matching against steps), and per model icl_tracking.jsonl / icl_tracking.png / training_loss.jsonl;
rerunning the command resumes (finished models are read back, an interrupted one continues from its checkpoint).
"""

from finetune_toolkit.commands.emergence import main  # the same function as `finetune-toolkit emergence`
from toolkit.cli import run_script

if __name__ == "__main__":
    run_script(main)
