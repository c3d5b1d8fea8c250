#!/usr/bin/env python
"""Few-shot in-context classification with causal LMs: a sweep over models, shots, seeds, templates and selection.

    python scripts/fewshot.py --model_name_or_path packaged:SmolLM2-135M-Instruct --template sentiment \\
        --train_file train.jsonl --validation_file test.jsonl --shots 0 1 4 8 --num_seeds 5 --calibrate \\
        --output_dir outputs/fewshot

Writes results.csv / results.json (one row per run), summary.json, per-example predictions, and plots
to --output_dir; rerunning the same command resumes. A .json/.yaml config file works instead of flags.
"""

from finetune_toolkit.commands.fewshot import main  # the same function as `finetune-toolkit fewshot`
from toolkit.cli import run_script

if __name__ == "__main__":
    run_script(main)
