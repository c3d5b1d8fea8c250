"""One example of one run as the report page shows it, built from each command's own per-example files.

A page row is a small dict with short keys (the page holds up to hundreds of thousands of them):

    r   the run's position in the page's run list      i   the example's index in the evaluated data
    ok  1 right, 0 wrong, None when there is no gold    p   the prediction as text; g the gold answer as text
    c   the id of the shared prompt text before the query (`Contexts`); q the rest of the prompt
    sp  `[start, end, kind]` spans of the full prompt (instruction, demonstration, query), when known
    o   `[name, log-probability or None, probability]` per label or option; go / po the gold / predicted one
    df  the answer against the reference, `[op, text]` with op "=" same, "-" only in the reference, "+" only in the answer
    s   the example's scores; x what else the file says of it (condition, labels the demonstrations showed, ...)
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter

from finetune_toolkit.core.metrics import normalise_answer


class Contexts:
    """Prompt texts before the query, each stored once: prompts of one run usually share their demonstrations."""

    def __init__(self):
        self.texts: list[str] = []
        self._ids: dict[str, int] = {}

    def split(self, prompt: str, spans: list | None) -> tuple[int, str]:
        """The id of the prompt's text before its query span (the whole prompt is the query without spans) and the rest."""
        query_start = next((start for start, _, kind in spans or [] if kind == "query"), 0)
        context, rest = prompt[:query_start], prompt[query_start:]
        if context not in self._ids:
            self._ids[context] = len(self.texts)
            self.texts.append(context)
        return self._ids[context], rest


def option_rows(names: list[str], log_probs: list[float] | None, probabilities: list[float] | None) -> list[list]:
    """`[name, log-probability, probability]` per option; probabilities renormalised from the log-probabilities
    when the file holds none (lm-eval's samples)."""
    if probabilities is None:
        top = max(log_probs)
        weights = [math.exp(value - top) for value in log_probs]
        probabilities = [weight / sum(weights) for weight in weights]
    log_probs = log_probs if log_probs is not None else [None] * len(names)
    return [[str(name), None if lp is None else round(float(lp), 6), round(float(p), 6)]
            for name, lp, p in zip(names, log_probs, probabilities)]


def answer_diff(reference: str, answer: str) -> list[list[str]]:
    """Word-level differences between a reference and an answer (`difflib`), whitespace kept."""
    first, second = re.findall(r"\s+|[^\s]+", reference), re.findall(r"\s+|[^\s]+", answer)
    ops = []
    for tag, a0, a1, b0, b1 in difflib.SequenceMatcher(None, first, second, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(["=", "".join(first[a0:a1])])
            continue
        if a1 > a0:
            ops.append(["-", "".join(first[a0:a1])])
        if b1 > b0:
            ops.append(["+", "".join(second[b0:b1])])
    return ops


def token_f1(answer: str, reference: str) -> float:
    """SQuAD's token F1 between an answer and a reference (lower case, punctuation and articles ignored)."""
    tokens = [t for t in normalise_answer(answer, True, True).split() if t not in ("a", "an", "the")]
    gold = [t for t in normalise_answer(reference, True, True).split() if t not in ("a", "an", "the")]
    if not tokens or not gold:
        return float(tokens == gold)
    common = sum((Counter(tokens) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(tokens), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def choice_row(run: int, index: int, prompt: str, spans: list | None, options: list[list], gold: int | None,
               predicted: int, contexts: Contexts, extra: dict | None = None) -> dict:
    """A classification or multiple-choice example: its options with their probabilities, the gold one marked."""
    context, rest = contexts.split(prompt, spans)
    return {"r": run, "i": index, "ok": None if gold is None else int(predicted == gold),
            "p": options[predicted][0] if 0 <= predicted < len(options) else "(no label)",
            "g": "" if gold is None else options[gold][0], "c": context, "q": rest, "sp": spans, "o": options,
            "go": gold, "po": predicted, "x": extra or {}}


def generation_row(run: int, index: int, prompt: str, spans: list | None, answer: str, reference: str | None,
                   contexts: Contexts, correct: bool | None = None, scores: dict | None = None, extra: dict | None = None) -> dict:
    """A generated answer against its reference: the words that differ and the example's scores."""
    context, rest = contexts.split(prompt, spans)
    scores = dict(scores or {})
    if reference is not None:
        scores.setdefault("exact_match", float(answer.strip() == reference.strip()))
        scores.setdefault("token_f1", round(token_f1(answer, reference), 4))
        if correct is None:
            correct = scores["exact_match"] == 1.0
    return {"r": run, "i": index, "ok": None if correct is None else int(correct), "p": answer,
            "g": reference or "", "c": context, "q": rest, "sp": spans,
            "df": answer_diff(reference, answer) if reference is not None else None, "s": scores, "x": extra or {}}
