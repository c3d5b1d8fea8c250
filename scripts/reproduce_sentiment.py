#!/usr/bin/env python
"""Reproduce the classic BERT sentiment example (SST-2) with a named preset.

`python scripts/reproduce_sentiment.py ...` is `finetune-toolkit reproduce ...`: the same `main`, the same flags and config files
(`finetune_toolkit/commands/reproduce.py` says what it does and writes). Run with --help for every option.
"""

from finetune_toolkit.commands.reproduce import main  # the same function as `finetune-toolkit reproduce`
from finetune_toolkit.core.command_line import run_script

if __name__ == "__main__":
    run_script(main)
