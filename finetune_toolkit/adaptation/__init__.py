"""Adaptation methods compared on the same data and model: in-context learning (0-shot, k-shot, calibrated),
prompt tuning, LoRA and full fine-tuning. Builds on both `finetune` (training) and `prompts` (scoring),
which never import it.

    from finetune_toolkit.adaptation import CompareArguments, compare_methods
    from prompts import FewShotDataArguments
    rows = compare_methods(CompareArguments("packaged:SmolLM2-135M-Instruct", "outputs/compare"),
                           FewShotDataArguments(train_file="train.jsonl", validation_file="validation.jsonl"))
"""

from .compare import METHODS, CompareArguments, compare_methods, comparison_table, training_examples

__all__ = ["METHODS", "CompareArguments", "compare_methods", "comparison_table", "training_examples"]
