"""Classification metrics through `evaluate`, from a metric module shipped with the package; generated-text scores;
exact match and token edit distance, each defined once for the whole toolkit.

`evaluate.load("accuracy")` downloads its script from the Hub; loading the module file in
`metric_modules/classification/` instead works offline.
"""

from __future__ import annotations

import string
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


def normalise_answer(text: str, ignore_case: bool = False, ignore_punctuation: bool = False) -> str:
    """An answer as `exact_match` compares it: surrounding whitespace stripped; with `ignore_case` lower-cased, with
    `ignore_punctuation` every ASCII punctuation character removed (then stripped again), as lm-evaluation-harness's
    `exact_match` options `ignore_case` and `ignore_punctuation` do."""
    text = text.strip()
    if ignore_case:
        text = text.lower()
    if ignore_punctuation:
        text = text.translate(_NO_PUNCTUATION).strip()
    return text


_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


def exact_match(predictions: list[str], references: list[str], ignore_case: bool = False, ignore_punctuation: bool = False) -> float:
    """The share (0 to 1) of predictions equal to their reference after `normalise_answer`: the one definition of exact
    match used by the few-shot sweep, `compare`, predict-with-generate, generate and the emergence lab. The space a
    model writes before its answer (" 42") does not count, as with lm-eval's `remove_whitespace` filter."""
    if len(predictions) != len(references):
        raise UserError(f"{len(predictions)} predictions but {len(references)} references; give one reference per prediction")
    if not predictions:
        return 0.0
    same = sum(normalise_answer(p, ignore_case, ignore_punctuation) == normalise_answer(r, ignore_case, ignore_punctuation)
               for p, r in zip(predictions, references))
    return same / len(predictions)


def generation_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    """ROUGE-1/2/L/Lsum (stemmed, 0-100), corpus BLEU and chrF (sacreBLEU, 0-100) and `exact_match` (0-1) of
    `predictions` against one reference each."""
    if len(predictions) != len(references):
        raise UserError(f"{len(predictions)} predictions but {len(references)} references; give one reference per prediction")
    if any(not reference.strip() for reference in references):
        raise UserError("a reference is empty; every prediction needs a non-empty reference to be scored against")
    scores = load_generation_metric().compute(predictions=predictions, references=references)
    return {**scores, "exact_match": exact_match(predictions, references)}


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
