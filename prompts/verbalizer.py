"""Verbalizers: the words that stand for each label, and their tokens in context.

Label words are tokenized the way they appear in a prompt: after the template's fixed text and the target
delimiter. "Sentiment:" + " positive" is encoded whole and the context's tokens are taken off, so a
byte-level BPE (GPT-2) gets the single token " positive" and a SentencePiece tokenizer (Llama) gets
"▁positive", not the stray "▁" that encoding " positive" on its own would add.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from finetune_toolkit.core.prompt_encoding import continuation_ids
from finetune_toolkit.core.errors import UserError


@dataclass
class Verbalizer:
    """Label names, in label-id order, each with one or more surface words (the first one is used in demonstrations)."""

    words: dict[str, list[str]]

    def __post_init__(self):
        if not isinstance(self.words, dict) or len(self.words) < 2:
            raise UserError("a verbalizer needs at least two labels, each with a list of words")
        owner: dict[str, str] = {}
        for label, words in self.words.items():
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
                raise UserError(f"label {label!r} needs a non-empty list of non-empty words in the verbalizer")
            for word in words:
                if word.strip() in owner and owner[word.strip()] != label:
                    raise UserError(f"the word {word.strip()!r} stands for both {owner[word.strip()]!r} and {label!r}; give each label its own words")
                owner[word.strip()] = label

    @classmethod
    def from_spec(cls, spec: Any, source: str) -> Verbalizer:
        """From a mapping label -> word or list of words (as in a template file)."""
        if not isinstance(spec, dict):
            raise UserError(f"template {source!r}: 'labels' must map each label to a word or a list of words")
        words = {}
        for label, value in spec.items():
            words[str(label)] = [value] if isinstance(value, str) else value
        return cls(words)

    @property
    def label_names(self) -> list[str]:
        return list(self.words)

    @property
    def num_labels(self) -> int:
        return len(self.words)

    def word(self, label: int) -> str:
        """The word shown for label id `label` in a demonstration."""
        return self.words[self.label_names[label]][0]

    def token_ids(self, tokenizer, context: str, delimiter: str) -> list[list[list[int]]]:
        """Token ids of every word of every label as it continues `context` after `delimiter`: [label][word] -> ids."""
        return [[continuation_ids(tokenizer, context, delimiter + word) for word in words] for words in self.words.values()]

    def label_for_answer(self, answer: str) -> int | None:
        """The label a generated answer names, or None when it names none or several.

        Case and surrounding punctuation are ignored; the answer must start with a label word
        ("Positive.", "positive, because..."), the longest matching word wins.
        """
        text = _normalise(answer)
        matches = {}
        for label, words in enumerate(self.words.values()):
            for word in words:
                norm = _normalise(word)
                if norm and (text == norm or (text.startswith(norm) and not text[len(norm)].isalnum())):
                    matches[label] = max(matches.get(label, 0), len(norm))
        if not matches:
            return None
        best = max(matches.values())
        winners = [label for label, length in matches.items() if length == best]
        return winners[0] if len(winners) == 1 else None


def _normalise(text: str) -> str:
    return re.sub(r"^[\W_]+|[\W_]+$", "", text.strip().lower())
