"""Scores of a few-shot run: accuracy, macro F1 and per-label recall, over every label of the template; and the
continuous metrics that go with them.

Schaeffer et al. 2023 ("Are Emergent Abilities of Large Language Models a Mirage?", arXiv:2304.15004) show that
sharp jumps with scale in a discontinuous metric (accuracy, exact match: all of an answer's tokens right, ~p^L)
often become smooth in a continuous one measured on the same outputs (per-token log-probability of the correct
answer, token edit distance). A sweep reports both kinds for the same predictions.
"""

from __future__ import annotations

from finetune_toolkit.core.metrics import classification_scores, token_edit_distance


def fewshot_scores(predictions: list[int], references: list[int], label_names: list[str]) -> dict[str, float]:
    """Accuracy, macro F1 over all template labels, and `recall_<label>` for each; a prediction of -1
    (an unmappable generated answer) counts as wrong."""
    labels = list(range(len(label_names)))
    per_label = classification_scores(predictions, references, average=None, labels=labels)
    macro = classification_scores(predictions, references, labels=labels)
    scores = {"accuracy": macro["accuracy"], "macro_f1": macro["f1"]}
    scores.update({f"recall_{name}": recall for name, recall in zip(label_names, per_label["recall"])})
    return scores


def continuous_scores(result, references: list[int], calibrated: bool = False) -> dict[str, float]:
    """The continuous metrics of a run, next to its accuracy.

    Scoring: `correct_answer_log_prob`, the mean log-probability (over the whole vocabulary) of the correct label's
    word after the prompt, and `correct_label_prob`, the mean probability of the correct label among the labels
    (after calibration for calibrated rows). Generation: `token_edit_distance`, the mean Levenshtein distance in
    tokens between the answer and the correct label's word, and `exact_match`, the share of answers that are
    exactly that word.
    """
    n = len(references)
    scores: dict[str, float] = {}
    if result.label_log_probs is not None and not calibrated:
        scores["correct_answer_log_prob"] = sum(result.label_log_probs[i][y] for i, y in enumerate(references)) / n
    probabilities = result.calibrated_probabilities if calibrated else result.probabilities
    if probabilities is not None:
        scores["correct_label_prob"] = sum(probabilities[i][y] for i, y in enumerate(references)) / n
    if result.answer_tokens is not None:
        words = result.label_word_tokens
        scores["token_edit_distance"] = sum(token_edit_distance(result.answer_tokens[i], words[y]) for i, y in enumerate(references)) / n
        scores["exact_match"] = sum(result.answer_tokens[i] == words[y] for i, y in enumerate(references)) / n
    return scores
