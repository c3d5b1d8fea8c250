"""Scores of a few-shot run, for each kind of task, with the continuous metrics that go with the discontinuous ones.

- classification: accuracy, macro F1 and per-label recall over every label of the template;
- multiple choice: `accuracy` (the option with the highest summed log-probability) and `accuracy_norm` (log-probability
  divided by the option's length in characters), exactly lm-evaluation-harness 0.4's `acc` and `acc_norm`;
- generation: `exact_match` (`finetune_toolkit.core.metrics.exact_match`), `token_edit_distance`, and ROUGE, BLEU and
  chrF where `rouge-score` and `sacrebleu` are installed.

Schaeffer et al. 2023 ("Are Emergent Abilities of Large Language Models a Mirage?", arXiv:2304.15004) show that
sharp jumps with scale in a discontinuous metric (accuracy, exact match: all of an answer's tokens right, ~p^L)
often become smooth in a continuous one measured on the same outputs (per-token log-probability of the correct
answer, token edit distance). A sweep reports both kinds for the same predictions.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from functools import cache

from finetune_toolkit.core.metrics import classification_scores, exact_match, generation_scores, token_edit_distance

logger = logging.getLogger(__name__)


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
        scores["exact_match"] = exact_match(result.answers, [result.label_words[y] for y in references])
    return scores


def option_probabilities(log_probs: list[float]) -> list[float]:
    """The options' probabilities renormalised among the options (a softmax of their summed log-probabilities)."""
    top = max(log_probs)
    weights = [math.exp(value - top) for value in log_probs]
    total = sum(weights)
    return [weight / total for weight in weights]


def multiple_choice_scores(option_log_probs: list[list[float]], options: list[list[str]], references: list[int]) -> dict[str, float]:
    """Scores of per-example options (each example's summed log-probability of each option) against the right ones.

    accuracy: the option of highest log-probability is right (lm-eval's `acc`).
    accuracy_norm: the same after dividing each log-probability by the option's length in characters, Python `len()`
        of the option text without the target delimiter (lm-eval 0.4's `acc_norm`).
    correct_option_prob: the mean probability of the right option among the options (continuous).
    brier_score: the mean over examples of the summed squared difference between the options' probabilities and the
        one-hot right answer, 0 (certain and right) to 2 (certain and wrong): the continuous counterpart of
        multiple-choice grade in Schaeffer et al. 2023 (lower is better).
    """
    n = len(references)
    right = right_norm = correct_prob = brier = 0.0
    for scores, texts, answer in zip(option_log_probs, options, references):
        right += max(range(len(scores)), key=scores.__getitem__) == answer
        normalised = [score / len(text) for score, text in zip(scores, texts)]
        right_norm += max(range(len(normalised)), key=normalised.__getitem__) == answer
        probabilities = option_probabilities(scores)
        correct_prob += probabilities[answer]
        brier += sum((p - (j == answer)) ** 2 for j, p in enumerate(probabilities))
    return {"accuracy": right / n, "accuracy_norm": right_norm / n, "correct_option_prob": correct_prob / n,
            "brier_score": brier / n}


def answer_scores(answers: list[str], references: list[str], tokenizer, ignore_case: bool = False,
                  ignore_punctuation: bool = False) -> dict[str, float]:
    """Scores of generated answers against reference texts: `exact_match`, `token_edit_distance` (the mean Levenshtein
    distance in tokens between the stripped answer and the stripped reference, continuous) and, where the
    `generation-metrics` extra is installed, ROUGE-1/2/L/Lsum, BLEU and chrF (0-100)."""
    tokens = lambda text: tokenizer(text.strip(), add_special_tokens=False)["input_ids"]  # noqa: E731
    scores = {"exact_match": exact_match(answers, references, ignore_case, ignore_punctuation),
              "token_edit_distance": sum(token_edit_distance(tokens(a), tokens(r)) for a, r in zip(answers, references)) / len(answers)}
    if all(importlib.util.find_spec(name) for name in ("rouge_score", "sacrebleu")):
        text_scores = generation_scores([a.strip() for a in answers], [r.strip() for r in references])
        scores.update({name: text_scores[name] for name in ("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf")})
    else:
        _warn_without_text_metrics()
    return scores


@cache
def _warn_without_text_metrics() -> None:
    """Once per process: which extra brings ROUGE, BLEU and chrF."""
    logger.warning("ROUGE, BLEU and chrF need rouge-score and sacrebleu: pip install 'finetune-toolkit[generation-metrics]'")
