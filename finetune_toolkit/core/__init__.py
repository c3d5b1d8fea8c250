"""The neutral core that `finetune` and `prompts` both build on: errors, atomic writes, argument parsing and
script running, data files, model and tokenizer loading (Hub ids, directories, `packaged:` models) on the one
device Accelerate chooses, and offline classification metrics.

    from finetune_toolkit.core import ModelArguments, UserError, load_generator
    model, tokenizer = load_generator("packaged:SmolLM2-135M-Instruct")
"""

from .causal_lm import context_length, load_generator
from .command_line import format_table, parse_args, run_script
from .device import execution_device
from .errors import UserError
from .metrics import classification_scores
from .model_names import resolve_model_name
from .models import ModelArguments, load_model, load_tokenizer
from .outputs import atomic_write_json, atomic_write_jsonl, atomic_write_text, check_output_dir

__all__ = [
    "ModelArguments",
    "UserError",
    "atomic_write_json",
    "atomic_write_jsonl",
    "atomic_write_text",
    "check_output_dir",
    "classification_scores",
    "context_length",
    "execution_device",
    "format_table",
    "load_generator",
    "load_model",
    "load_tokenizer",
    "parse_args",
    "resolve_model_name",
    "run_script",
]
