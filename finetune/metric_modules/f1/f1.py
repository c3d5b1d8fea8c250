"""F1 for classification (an offline `evaluate` module).

Per class c: precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2PR/(P+R), 0 where undefined.
`average="macro"` (default) is the unweighted mean over the classes present in the references or
predictions (or over `labels`); "micro" pools the counts; "weighted" weights by support; None
returns one value per class.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "F1 of predicted class labels against references, macro-averaged by default."
_KWARGS = """
Args:
    predictions (list of int): predicted labels.
    references (list of int): true labels.
    labels (list of int, optional): the classes to average over.
    average (str or None): "macro" (default), "micro", "weighted", "binary" (class pos_label) or None.
    pos_label (int): the positive class for average="binary".
Returns:
    f1 (float, or list of float when average is None).
"""


def _per_class(predictions, references, labels):
    tp = np.array([np.sum((predictions == c) & (references == c)) for c in labels], dtype=float)
    fp = np.array([np.sum((predictions == c) & (references != c)) for c in labels], dtype=float)
    fn = np.array([np.sum((predictions != c) & (references == c)) for c in labels], dtype=float)
    return tp, fp, fn


def _ratio(numerator, denominator):
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _scores(tp, fp, fn):
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {"precision": precision, "recall": recall, "f1": _ratio(2 * precision * recall, precision + recall)}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class F1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, labels=None, average="macro", pos_label=1):
        predictions, references = np.asarray(predictions), np.asarray(references)
        if average == "binary":
            labels = [pos_label]
        elif labels is None:
            labels = sorted(set(references.tolist()) | set(predictions.tolist()))
        tp, fp, fn = _per_class(predictions, references, labels)
        if average == "micro":
            return {"f1": float(_scores(tp.sum(), fp.sum(), fn.sum())["f1"])}
        per_class = _scores(tp, fp, fn)["f1"]
        if average is None:
            return {"f1": per_class.tolist()}
        if average == "weighted":
            support = tp + fn
            return {"f1": float(np.sum(per_class * support) / support.sum()) if support.sum() else 0.0}
        return {"f1": float(per_class.mean()) if len(per_class) else 0.0}
