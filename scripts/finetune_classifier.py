#!/usr/bin/env python
"""Fine-tune an encoder (DistilBERT, BERT, MiniLM, ...) for text classification.

`python scripts/finetune_classifier.py ...` is `finetune-toolkit classify ...`: the same `main`, the same flags and config files
(`finetune_toolkit/commands/classify.py` says what it does and writes). Run with --help for every option.
"""

from finetune_toolkit.commands.classify import main  # the same function as `finetune-toolkit classify`
from finetune_toolkit.core.command_line import run_script

if __name__ == "__main__":
    run_script(main)
