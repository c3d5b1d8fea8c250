"""finetune-toolkit: fine-tune and prompt Hugging Face models.

Three import names, one distribution:

- `finetune`: fine-tuning on the `Trainer` (classification, causal LMs, instruction data, LoRA / prompt tuning).
- `prompts`: few-shot in-context learning (templates, demonstration selection, scoring, calibration, sweeps).
- `finetune_toolkit`: everything else. `finetune_toolkit.core` is the neutral core both build on (errors, atomic
  outputs, argument parsing, device, model loading, packaged models, columns, metrics, generation, progress,
  plotting); `finetune_toolkit.adaptation` compares adaptation methods; `finetune_toolkit.emergence` is the
  emergence lab and the model-size ladder; `finetune_toolkit.commands` holds the `finetune-toolkit` subcommands.

Importing this package is cheap: it imports none of the packages above, nor torch.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("finetune-toolkit")
except PackageNotFoundError:  # run from a clone that was never installed
    __version__ = "0.1.0"
