"""`python -m finetune_toolkit ...` (and `accelerate launch -m finetune_toolkit ...`): the same as `finetune-toolkit ...`."""

import os
import sys
from pathlib import Path


def _keep_the_working_directory_from_shadowing() -> None:
    """`python -m` puts the working directory first on `sys.path`, so a user's own `prompts.py` or `finetune/` there
    would be imported instead of ours. Drop it, unless this package itself was found there (a clone run uninstalled)."""
    here = Path(__file__).resolve().parent.parent
    working = Path.cwd().resolve()
    if here == working:
        return
    sys.path[:] = [entry for entry in sys.path if entry not in ("", ".") and Path(entry or ".").resolve() != working
                   or Path(entry or ".").resolve() == here]


_keep_the_working_directory_from_shadowing()

from finetune_toolkit.cli import main  # noqa: E402  (after the path is fixed)

if __name__ == "__main__":
    main()
