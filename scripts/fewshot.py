#!/usr/bin/env python
"""Few-shot in-context classification with causal LMs: a sweep over models, shots, seeds, templates and selection.

`python scripts/fewshot.py ...` is `finetune-toolkit fewshot ...`: the same `main`, the same flags and config files
(`finetune_toolkit/commands/fewshot.py` says what it does and writes). Run with --help for every option.
"""

from finetune_toolkit.commands.fewshot import main  # the same function as `finetune-toolkit fewshot`
from finetune_toolkit.core.command_line import run_script

if __name__ == "__main__":
    run_script(main)
