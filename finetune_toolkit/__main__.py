"""`python -m finetune_toolkit ...` (and `accelerate launch -m finetune_toolkit ...`): the same as `finetune-toolkit ...`."""

from .cli import main

if __name__ == "__main__":
    main()
