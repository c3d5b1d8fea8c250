"""Classification metrics through `evaluate`, from a metric module shipped with the package; token edit distance.

`evaluate.load("accuracy")` downloads its script from the Hub; loading the module file in
`metric_modules/classification/` instead works offline.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from .errors import UserError

METRIC_MODULES = Path(__file__).parent / "metric_modules"


@cache
def load_classification_metric():
    """The shipped `evaluate` module computing accuracy, F1, precision and recall."""
    import evaluate  # here, not at the top: it takes seconds and only evaluation needs it

    return evaluate.load(str(METRIC_MODULES / "classification"))


@cache
def load_generation_metric():
    """The shipped `evaluate` module computing ROUGE, BLEU, chrF and exact match (needs `rouge-score` and `sacrebleu`:
    the `generation-metrics` extra)."""
    import importlib.util

    import evaluate

    missing = [name for name, module in (("rouge-score", "rouge_score"), ("sacrebleu", "sacrebleu")) if importlib.util.find_spec(module) is None]
    if missing:
        raise UserError(f"scoring generated text needs {' and '.join(missing)}; pip install 'finetune-toolkit[generation-metrics]'")
    return evaluate.load(str(METRIC_MODULES / "generation"))


def generation_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    """ROUGE-1/2/L/Lsum (stemmed, 0-100), corpus BLEU and chrF (sacreBLEU, 0-100) and exact match after whitespace
    normalisation (0-1) of `predictions` against one reference each."""
    if len(predictions) != len(references):
        raise UserError(f"{len(predictions)} predictions but {len(references)} references; give one reference per prediction")
    if any(not reference.strip() for reference in references):
        raise UserError("a reference is empty; every prediction needs a non-empty reference to be scored against")
    return load_generation_metric().compute(predictions=predictions, references=references)


def classification_scores(predictions, references, average: str | None = "macro", labels=None) -> dict[str, float]:
    """Accuracy plus F1, precision and recall averaged over `labels` (default: the classes that occur; macro by default)."""
    return load_classification_metric().compute(predictions=predictions, references=references, average=average, labels=labels)


def compute_classification_metrics(eval_prediction) -> dict[str, float]:
    """The `Trainer`'s `compute_metrics`: logits and label ids in, scores out."""
    logits = eval_prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    return classification_scores(np.argmax(logits, axis=-1), eval_prediction.label_ids)


def token_edit_distance(first: list[int], second: list[int]) -> int:
    """Levenshtein distance between two token sequences (insertions, deletions, substitutions of one token)."""
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        current = [i]
        for j, b in enumerate(second, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]
