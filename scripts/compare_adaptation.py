#!/usr/bin/env python
"""Compare adaptation methods on the same data and model: 0-shot, k-shot ICL (calibrated and not),
prompt tuning, LoRA and full fine-tuning, all judged by label log-probability on the validation data.

    python scripts/compare_adaptation.py --model_name_or_path packaged:SmolLM2-135M-Instruct \\
        --train_file train.jsonl --validation_file validation.jsonl --max_train_samples 2000 \\
        --output_dir outputs/compare-sst2

Writes comparison.md / comparison.json (accuracy, trainable parameters, training and evaluation seconds),
accuracy_vs_parameters.png, and each trained run under runs/<method>; rerunning the command resumes.
"""

from finetune_toolkit.commands.compare import main  # the same function as `finetune-toolkit compare`
from toolkit.cli import run_script

if __name__ == "__main__":
    run_script(main)
