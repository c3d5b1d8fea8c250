"""Fine-tuning Hugging Face models: text classification (any encoder), with more to come.

The data flows one way: files or Hub -> `finetune.data` -> `toolkit.models` -> `Trainer` -> output_dir.
"""

from toolkit.errors import UserError
from toolkit.metrics import classification_scores
from toolkit.models import ModelArguments, load_model, load_tokenizer, resolve_model_name

from .classification import FinetuneTrainingArguments, train_classifier
from .data import DataArguments, load_classification_data, movie_review_files

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
