"""Classification metrics through `evaluate`, from metric modules shipped with the package.

`evaluate.load("accuracy")` downloads its script from the Hub; loading the module files in
`metric_modules/` instead works offline and gives the same numbers.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

METRIC_MODULES = Path(__file__).parent / "metric_modules"
CLASSIFICATION_METRICS = ("accuracy", "f1", "precision", "recall")


@cache
def load_metric(name: str):
    """Load a shipped metric module (accuracy, f1, precision, recall) with `evaluate.load`."""
    import evaluate

    path = METRIC_MODULES / name
    if not path.is_dir():
        raise ValueError(f"no shipped metric {name!r}; available: {', '.join(CLASSIFICATION_METRICS)}")
    return evaluate.load(str(path))


def classification_scores(predictions, references) -> dict[str, float]:
    """Accuracy plus F1, precision and recall macro-averaged over the classes that occur (as sklearn)."""
    scores = dict(load_metric("accuracy").compute(predictions=predictions, references=references))
    for name in ("f1", "precision", "recall"):
        scores.update(load_metric(name).compute(predictions=predictions, references=references, average="macro"))
    return scores


def compute_classification_metrics(eval_prediction) -> dict[str, float]:
    """The `Trainer`'s `compute_metrics`: logits and label ids in, scores out."""
    logits = eval_prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    return classification_scores(np.argmax(logits, axis=-1), eval_prediction.label_ids)
