"""Fine-tuning Hugging Face models: text classification (any encoder), with more to come.

The data flows one way: files or Hub -> `finetune.data` -> `finetune.models` -> `Trainer` -> output_dir.
"""

from .classification import FinetuneTrainingArguments, train_classifier
from .data import DataArguments, load_classification_data, movie_review_files
from .errors import UserError
from .metrics import classification_scores
from .models import ModelArguments, load_model, load_tokenizer, resolve_model_name

__all__ = [
    "DataArguments",
    "FinetuneTrainingArguments",
    "ModelArguments",
    "UserError",
    "classification_scores",
    "load_classification_data",
    "load_model",
    "load_tokenizer",
    "movie_review_files",
    "resolve_model_name",
    "train_classifier",
]
