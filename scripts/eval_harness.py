#!/usr/bin/env python
"""lm-evaluation-harness tasks on the toolkit's scorer, for one model or several.

`python scripts/eval_harness.py ...` is `finetune-toolkit eval ...`: the same `main`, the same flags and config files
(`finetune_toolkit/commands/eval.py` says what it does and writes). Run with --help for every option.
"""

from finetune_toolkit.commands.eval import main  # the same function as `finetune-toolkit eval`
from finetune_toolkit.core.command_line import run_script

if __name__ == "__main__":
    run_script(main)
