#!/usr/bin/env python
"""Fine-tune GPT-2 (or any causal LM) on your own text; report perplexity before and after.

`python scripts/finetune_lm.py ...` is `finetune-toolkit lm ...`: the same `main`, the same flags and config files
(`finetune_toolkit/commands/lm.py` says what it does and writes). Run with --help for every option.
"""

from finetune_toolkit.commands.lm import main  # the same function as `finetune-toolkit lm`
from finetune_toolkit.core.command_line import run_script

if __name__ == "__main__":
    run_script(main)
