"""Fine-tuning Hugging Face models on the `Trainer`: text classification with any encoder, causal-LM
fine-tuning (GPT-2, Llama, ...) and batched text generation.

The data flows one way: files or Hub -> `finetune.data` (or `finetune.lm_data`) ->
`finetune_toolkit.core.models` -> the run routine (`finetune.training.run_training`) -> output_dir.

    from finetune import DataArguments, FinetuneTrainingArguments, ModelArguments, train_classifier
    metrics = train_classifier(ModelArguments("packaged:all-MiniLM-L6-v2"), DataArguments(train_file="train.jsonl"),
                               FinetuneTrainingArguments(output_dir="out", do_train=True))
"""

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.models import ModelArguments

from .classification import train_classifier
from .data import DataArguments, load_classification_data, movie_review_files
from finetune_toolkit.core.generation import GenerationArguments, generate  # re-exported: generation lives in the neutral core
from .language_modeling import LMDataArguments, train_causal_lm
from .training import FinetuneTrainingArguments

__all__ = [
    "DataArguments",
    "FinetuneTrainingArguments",
    "GenerationArguments",
    "LMDataArguments",
    "ModelArguments",
    "UserError",
    "generate",
    "load_classification_data",
    "movie_review_files",
    "train_causal_lm",
    "train_classifier",
]
