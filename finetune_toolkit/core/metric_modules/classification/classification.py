"""Accuracy, F1, precision and recall of class labels: an `evaluate` module that works offline.

Per class c: precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2PR/(P+R), 0 where undefined (as
scikit-learn with zero_division=0). `average="macro"` (default) is the unweighted mean over the
classes present in the references or predictions (or over `labels`); "micro" pools the counts;
"weighted" weights by support; "binary" scores the class `pos_label`; None gives per-class lists.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Accuracy, and F1, precision and recall (macro-averaged by default), of predicted class labels."
_KWARGS = """
Args:
    predictions (list of int): predicted labels.
    references (list of int): true labels.
    labels (list of int, optional): the classes to average over.
    average (str or None): "macro" (default), "micro", "weighted", "binary" or None.
    pos_label (int): the positive class for average="binary".
Returns:
    accuracy (float), f1, precision, recall (float, or lists of floats when average is None).
"""


def _ratio(numerator, denominator):
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _scores(tp, fp, fn):
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {"f1": _ratio(2 * precision * recall, precision + recall), "precision": precision, "recall": recall}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Classification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, labels=None, average="macro", pos_label=1):
        predictions, references = np.asarray(predictions), np.asarray(references)
        accuracy = float((predictions == references).mean()) if len(references) else 0.0
        if average == "binary":
            labels = [pos_label]
        elif labels is None:
            labels = sorted(set(references.tolist()) | set(predictions.tolist()))
        tp = np.array([np.sum((predictions == c) & (references == c)) for c in labels], dtype=float)
        fp = np.array([np.sum((predictions == c) & (references != c)) for c in labels], dtype=float)
        fn = np.array([np.sum((predictions != c) & (references == c)) for c in labels], dtype=float)
        if average == "micro":
            scores = {name: float(value) for name, value in _scores(tp.sum(), fp.sum(), fn.sum()).items()}
        elif average is None:
            scores = {name: value.tolist() for name, value in _scores(tp, fp, fn).items()}
        elif average == "weighted":
            support = tp + fn
            scores = {name: float(np.sum(value * support) / support.sum()) if support.sum() else 0.0
                      for name, value in _scores(tp, fp, fn).items()}
        else:
            scores = {name: float(value.mean()) if len(value) else 0.0 for name, value in _scores(tp, fp, fn).items()}
        return {"accuracy": accuracy, **scores}
