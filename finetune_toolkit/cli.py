"""`finetune-toolkit SUBCOMMAND [flags | config.yaml]`: dispatch to `finetune_toolkit.commands.<subcommand>.main`.

Every subcommand takes exactly the flags and config files of its script in `scripts/` (one parser: the same
`main`); errors users can cause end as one line on stderr with exit status 2, as in the scripts.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from . import __version__

# subcommand -> (module in finetune_toolkit.commands, the script in a clone, one line on what it does)
COMMANDS = {
    "classify": ("classify", "finetune_classifier.py", "fine-tune or evaluate an encoder for text classification"),
    "lm": ("lm", "finetune_lm.py", "fine-tune a causal LM on text or instruction data (full, LoRA, prompt tuning)"),
    "generate": ("generate", "generate.py", "generate text with any causal LM (batched, sampling, stop strings, chat)"),
    "fewshot": ("fewshot", "fewshot.py", "few-shot in-context classification sweeps: shots x seeds x models"),
    "eval": ("eval", "eval_harness.py", "lm-evaluation-harness tasks on the toolkit's faster scorer (needs the lm-eval extra)"),
    "compare": ("compare", "compare_adaptation.py", "ICL, prompt tuning, LoRA and full fine-tuning on the same data"),
    "emergence": ("emergence", "emergence.py", "watch induction heads form in small GPT-2s trained from scratch"),
    "scaling": ("scaling", "scaling.py", "a model-size ladder: exact match and continuous metrics against size"),
    "reproduce": ("reproduce", "reproduce_sentiment.py", "reproduce the classic BERT sentiment example"),
    "report": ("report", None, "one self-contained page per output folder: settings, results, plots, every example"),
    "demo": ("demo", "demo.py", "the toolkit's main jobs, offline, in a few minutes"),
    "env": ("env", None, "versions, device, packaged models and caches, to paste into a bug report"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: finetune-toolkit SUBCOMMAND [flags | config.json | config.yaml]   (version {__version__})", "",
             "subcommands:"]
    lines += [f"  {name.ljust(width)}  {purpose}" for name, (_, _, purpose) in COMMANDS.items()]
    lines += ["", "finetune-toolkit SUBCOMMAND --help lists a subcommand's flags. python -m finetune_toolkit works the same,",
              "and so does accelerate launch -m finetune_toolkit SUBCOMMAND ... on several GPUs."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run one subcommand; `--help` lists them, `--version` prints the version."""
    from finetune_toolkit.core.command_line import run_script  # here: `--help` and `--version` should not wait for torch to import

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    if argv[0] in ("-V", "--version"):
        print(f"finetune-toolkit {__version__}")
        return
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        print(f"error: unknown subcommand {name!r}; {hint}run finetune-toolkit --help to list them", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(f"finetune_toolkit.commands.{COMMANDS[name][0]}")
    sys.argv = [f"finetune-toolkit {name}", *rest]  # what --help and error messages show as the program
    run_script(lambda: module.main(rest))
