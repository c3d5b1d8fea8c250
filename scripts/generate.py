#!/usr/bin/env python
"""Generate text with any causal LM: prompts from flags or a file, batched, greedy/beam/sampling.

`python scripts/generate.py ...` is `finetune-toolkit generate ...`: the same `main`, the same flags and config files
(`finetune_toolkit/commands/generate.py` says what it does and writes). Run with --help for every option.
"""

from finetune_toolkit.commands.generate import main  # the same function as `finetune-toolkit generate`
from finetune_toolkit.core.command_line import run_script

if __name__ == "__main__":
    run_script(main)
