#!/usr/bin/env python
"""Compare adaptation methods on the same data and model: 0-shot, k-shot ICL (calibrated and not),

`python scripts/compare_adaptation.py ...` is `finetune-toolkit compare ...`: the same `main`, the same flags and config files
(`finetune_toolkit/commands/compare.py` says what it does and writes). Run with --help for every option.
"""

from finetune_toolkit.commands.compare import main  # the same function as `finetune-toolkit compare`
from finetune_toolkit.core.command_line import run_script

if __name__ == "__main__":
    run_script(main)
