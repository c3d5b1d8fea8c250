#!/usr/bin/env python
"""`make demo`: the toolkit's main jobs, offline, on 2 CPU cores in a few minutes.

`python scripts/demo.py ...` is `finetune-toolkit demo ...`: the same `main`, the same flags and config files
(`finetune_toolkit/commands/demo.py` says what it does and writes). Run with --help for every option.
"""

from finetune_toolkit.commands.demo import main  # the same function as `finetune-toolkit demo`
from finetune_toolkit.core.command_line import run_script

if __name__ == "__main__":
    run_script(main)
