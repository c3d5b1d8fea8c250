"""What the demonstrations show: their labels and inputs under the conditions in-context-learning research varies.

Min et al. 2022 ("Rethinking the Role of Demonstrations", arXiv:2202.12837) corrupt the labels of k demonstrations
(random labels; a share of correct ones) and their inputs (none; sentences from another corpus); Wei et al. 2023
("Larger language models do in-context learning differently", arXiv:2303.03846) flip the labels and replace them by
semantically unrelated words. Each is one `DemonstrationCondition` here:

- labels: `gold` (as in the data); `random` (each demonstration's label drawn uniformly from the label set, so it may
  be right by chance, as in Min et al.); `flipped` (a binary task swaps its two labels, more classes shift class i
  to i+1 mod C); `unrelated` (class i is shown, and scored for the query, as the i-th unrelated word) and
  `unrelated_flipped` (both).
- correct_fraction p: exactly floor(p x k + 0.5) demonstrations keep their gold label, the others show a wrong one,
  drawn uniformly from the other labels (Min et al.'s Figure 4 rounds down; half-up here, so k=2, p=0.25 keeps 1).
- format: `full`, `inputs_only` (the query part of each demonstration, no label), `labels_only` (the label word
  alone) or `ood_inputs` (each demonstration's input replaced by a sentence of another corpus, its label as the label
  condition says: Min et al.'s out-of-distribution inputs, who pair them with random labels).

Only what the demonstrations show changes; the query and its gold label never do. Everything random is drawn from
a generator seeded by the run's seed and the demonstration set, so a condition is the same in every run with the
same seed and every prompt that shares a demonstration set shares the corrupted one too (and its prefix cache).
Multiple choice: a label is the index of one of the demonstration's own options. Generation: a "wrong" answer is
another pool example's reference; `flipped` and `unrelated` have no meaning there and are refused.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from finetune_toolkit.core.errors import UserError

LABEL_CONDITIONS = ("gold", "random", "flipped", "unrelated", "unrelated_flipped")
FORMATS = ("full", "inputs_only", "labels_only", "ood_inputs")
# Common words with nothing of sentiment, topic or entailment in them (Wei et al. use foo/bar, apple/orange, ...).
UNRELATED_WORDS = ("apple", "orange", "table", "river", "pencil", "window", "garden", "ladder", "button", "candle")


@dataclass(frozen=True)
class DemonstrationCondition:
    """One experimental condition on the demonstrations (see the module docstring)."""

    labels: str = "gold"
    correct_fraction: float | None = None
    format: str = "full"

    def __post_init__(self):
        if self.labels not in LABEL_CONDITIONS:
            raise UserError(f"unknown --demo_labels {self.labels!r}; choose from: {', '.join(LABEL_CONDITIONS)}")
        if self.format not in FORMATS:
            raise UserError(f"unknown --demo_format {self.format!r}; choose from: {', '.join(FORMATS)}")
        if self.correct_fraction is not None:
            if not 0 <= self.correct_fraction <= 1:
                raise UserError(f"--correct_fraction must be between 0 and 1, got {self.correct_fraction}")
            if self.labels != "gold":
                raise UserError("--correct_fraction sets how many demonstrations keep their gold label; combine it with "
                                "--demo_labels gold only")

    @property
    def name(self) -> str:
        """A short name for tables and file names: `gold`, `random`, `correct=0.75`, `random+ood_inputs`, ..."""
        name = self.labels if self.correct_fraction is None else f"correct={self.correct_fraction:g}"
        return name if self.format == "full" else f"{name}+{self.format}"

    @property
    def is_gold(self) -> bool:
        return self == DemonstrationCondition()

    @property
    def ood_inputs(self) -> bool:
        return self.format == "ood_inputs"

    @property
    def unrelated(self) -> bool:
        return self.labels.startswith("unrelated")


def kept_correct(fraction: float, shots: int) -> int:
    """How many of `shots` demonstrations keep their gold label under `--correct_fraction fraction`."""
    return int(fraction * shots + 0.5)


def with_unrelated_words(template, tokenizer, words: tuple[str, ...]):
    """The classification template with class i named by `words[i]`, in the demonstrations and in what is scored for
    the query. Refused when there are too few words, or two of them are the same word or the same tokens in context."""
    from .verbalizer import Verbalizer

    names = template.verbalizer.label_names
    if len(words) < len(names):
        raise UserError(f"--unrelated_label_words needs {len(names)} words, one per class, got {len(words)}")
    chosen = [word.strip() for word in words[: len(names)]]
    if any(not word for word in chosen) or len({word.lower() for word in chosen}) < len(chosen):
        raise UserError(f"--unrelated_label_words {' '.join(chosen)}: each class needs its own non-empty word")
    unrelated = replace(template, verbalizer=Verbalizer({name: [word] for name, word in zip(names, chosen)}))
    ids = [tuple(words_ids[0]) for words_ids in
           unrelated.verbalizer.token_ids(tokenizer, unrelated.label_context, unrelated.target_delimiter)]
    if len(set(ids)) < len(ids):
        raise UserError(f"--unrelated_label_words {' '.join(chosen)}: two words give the same tokens after "
                        f"{unrelated.label_context!r}; choose words the tokenizer tells apart")
    return unrelated


class DemonstrationView:
    """The demonstrations of one run as its prompts show them: `shown(chosen)` gives `(fields, label)` pairs for the
    pool indices `chosen` under `condition`, and `context(chosen)` the text before the query."""

    def __init__(self, template, pool, condition: DemonstrationCondition, seed: int, ood_texts: list[str] | None = None):
        if condition.labels.endswith("flipped") and template.kind == "generation":
            raise UserError("--demo_labels flipped needs a fixed label set; a generation template has none (use random "
                            "or --correct_fraction, which show other examples' answers)")
        if condition.unrelated and template.kind != "classification":
            raise UserError(f"--demo_labels {condition.labels} renames the classes of a classification template; a "
                            f"{template.kind} template has none")
        if condition.ood_inputs and not ood_texts:
            raise UserError("--demo_format ood_inputs needs sentences of another corpus: pass --ood_inputs FILE")
        self.template, self.pool, self.condition, self.seed = template, pool, condition, seed
        self.ood_texts = ood_texts or []
        self.num_labels = template.verbalizer.num_labels if template.kind == "classification" else None

    def shown_labels(self, chosen: list[int]) -> list[Any]:
        """The label each demonstration in `chosen` shows (pool label ids, option indices or reference texts).

        Drawn for the set in pool order, then put in `chosen`'s order: every order of one set shows each
        demonstration with the same label, so an order study varies the order alone."""
        in_pool_order = sorted(chosen)
        rng = random.Random(f"{self.seed}:{self.condition.name}:{','.join(map(str, in_pool_order))}")
        labels = dict(zip(in_pool_order, self._draw(in_pool_order, rng)))
        return [labels[index] for index in chosen]

    def _draw(self, chosen: list[int], rng: random.Random) -> list[Any]:
        gold = [self.pool.labels[i] for i in chosen]
        condition = self.condition
        if condition.correct_fraction is not None:
            keep = set(rng.sample(range(len(chosen)), kept_correct(condition.correct_fraction, len(chosen))))
            return [label if position in keep else self._wrong(chosen[position], label, rng)
                    for position, label in enumerate(gold)]
        if condition.labels == "random":
            return [self._random(index, rng) for index in chosen]
        if condition.labels.endswith("flipped"):
            return [(label + 1) % self._classes(index) for index, label in zip(chosen, gold)]
        return gold

    def _classes(self, index: int) -> int:
        if self.template.kind == "multiple_choice":
            return len(self.pool.fields[index][self.template.choices_column])
        return self.num_labels

    def _random(self, index: int, rng: random.Random):
        if self.template.kind == "generation":
            return self.pool.labels[rng.randrange(len(self.pool.labels))]
        return rng.randrange(self._classes(index))

    def _wrong(self, index: int, label, rng: random.Random):
        if self.template.kind == "generation":
            others = [answer for answer in self.pool.labels if answer != label]
            if not others:
                raise UserError("--correct_fraction below 1 needs pool examples with other answers to show")
            return rng.choice(others)
        classes = self._classes(index)
        if classes < 2:
            raise UserError(f"pool example {index} has a single option: it has no wrong label to show")
        return rng.choice([other for other in range(classes) if other != label])

    def shown(self, chosen: list[int]) -> list[tuple[dict, Any]]:
        """`(fields, label)` of each demonstration as shown: inputs from another corpus under `ood_inputs`."""
        fields = {index: dict(self.pool.fields[index]) for index in chosen}
        if self.condition.ood_inputs:
            in_pool_order = sorted(chosen)
            rng = random.Random(f"{self.seed}:ood:{','.join(map(str, in_pool_order))}")
            count = len(in_pool_order)
            texts = rng.sample(self.ood_texts, count) if len(self.ood_texts) >= count else \
                [rng.choice(self.ood_texts) for _ in in_pool_order]
            for index, text in zip(in_pool_order, texts):
                fields[index][self.template.fields[0]] = text
        return list(zip([fields[index] for index in chosen], self.shown_labels(chosen)))

    def context_parts(self, chosen: list[int]) -> list[tuple[str, str]]:
        """`(kind, text)` of each part of the text before the query, in order: "instruction" and one "demonstration"
        per example, each ending with the separator, in the condition's format. Joined, they are `context`."""
        template, separator = self.template, self.template.separator_text
        parts = [("instruction", template.instruction_text)] if template.instruction_text else []
        for values, label in self.shown(chosen):
            if self.condition.format == "inputs_only":
                text = template.render_query(values)
            elif self.condition.format == "labels_only":
                text = template.answer_text(values, label)
            else:
                text = template.render_demonstration(values, label)
            parts.append(("demonstration", text))
        return [(kind, text + separator) for kind, text in parts]

    def context(self, chosen: list[int]) -> str:
        """Instruction and demonstrations, each followed by the separator, in the condition's format."""
        return "".join(text for _, text in self.context_parts(chosen))
