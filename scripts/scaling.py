#!/usr/bin/env python
"""A model-size ladder: GPT-2s from a few thousand to about a million parameters trained from scratch on 3-digit

`python scripts/scaling.py ...` is `finetune-toolkit scaling ...`: the same `main`, the same flags and config files
(`finetune_toolkit/commands/scaling.py` says what it does and writes). Run with --help for every option.
"""

from finetune_toolkit.commands.scaling import main  # the same function as `finetune-toolkit scaling`
from finetune_toolkit.core.command_line import run_script

if __name__ == "__main__":
    run_script(main)
