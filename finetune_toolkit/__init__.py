"""The `finetune-toolkit` command (`python -m finetune_toolkit`): one command, a subcommand per job.

The libraries are `toolkit`, `finetune`, `prompts`, `adaptation` and `emergence_lab`; this package only holds the
commands (`finetune_toolkit.commands`), each a thin shell that parses its flags (or one config file) and calls one
library function. `scripts/*.py` call the same functions.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("finetune-toolkit")
except PackageNotFoundError:  # run from a clone that was never installed
    __version__ = "0.1.0"
