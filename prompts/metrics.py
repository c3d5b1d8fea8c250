"""Scores of a few-shot run: accuracy, macro F1 and per-label recall, over every label of the template."""

from __future__ import annotations

from toolkit.metrics import classification_scores


def fewshot_scores(predictions: list[int], references: list[int], label_names: list[str]) -> dict[str, float]:
    """Accuracy, macro F1 over all template labels, and `recall_<label>` for each; a prediction of -1
    (an unmappable generated answer) counts as wrong."""
    labels = list(range(len(label_names)))
    per_label = classification_scores(predictions, references, average=None, labels=labels)
    macro = classification_scores(predictions, references, labels=labels)
    scores = {"accuracy": macro["accuracy"], "macro_f1": macro["f1"]}
    scores.update({f"recall_{name}": recall for name, recall in zip(label_names, per_label["recall"])})
    return scores
