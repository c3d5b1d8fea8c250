#!/usr/bin/env python
"""Watch induction heads form: train 1- and 2-layer GPT-2s (or any layer counts) from scratch on repeated random

`python scripts/emergence.py ...` is `finetune-toolkit emergence ...`: the same `main`, the same flags and config files
(`finetune_toolkit/commands/emergence.py` says what it does and writes). Run with --help for every option.
"""

from finetune_toolkit.commands.emergence import main  # the same function as `finetune-toolkit emergence`
from finetune_toolkit.core.command_line import run_script

if __name__ == "__main__":
    run_script(main)
