"""The two example tasks the package ships beside its built-in templates, written by this module (not copied from
any dataset): `antonyms` (multiple choice: the opposite of a word among four options) and `arithmetic`
(generation: two-digit addition with carries, the answer generated and judged by exact match).

    finetune-toolkit fewshot --template antonyms --dataset_name example:antonyms ...
    python -m prompts.example_tasks            # writes the files again (they must come out identical)
"""

from __future__ import annotations

import json
import random
from pathlib import Path

EXAMPLES_DIR = Path(__file__).parent / "examples"
EXAMPLE_TASKS = ("antonyms", "arithmetic")

ANTONYMS = [
    ("hot", "cold"), ("big", "small"), ("fast", "slow"), ("happy", "sad"), ("up", "down"), ("open", "closed"),
    ("light", "dark"), ("early", "late"), ("full", "empty"), ("strong", "weak"), ("rich", "poor"), ("young", "old"),
    ("wet", "dry"), ("hard", "soft"), ("loud", "quiet"), ("tall", "short"), ("clean", "dirty"), ("thick", "thin"),
    ("push", "pull"), ("win", "lose"), ("buy", "sell"), ("give", "take"), ("high", "low"), ("inside", "outside"),
    ("true", "false"), ("near", "far"), ("heavy", "light"), ("cheap", "expensive"), ("safe", "dangerous"),
    ("begin", "end"), ("friend", "enemy"), ("day", "night"), ("north", "south"), ("east", "west"), ("left", "right"),
    ("love", "hate"), ("question", "answer"), ("sweet", "sour"), ("wide", "narrow"), ("deep", "shallow"),
    ("brave", "afraid"), ("polite", "rude"), ("remember", "forget"), ("accept", "refuse"), ("arrive", "leave"),
    ("asleep", "awake"), ("before", "after"), ("always", "never"), ("entrance", "exit"), ("future", "past"),
    ("gentle", "rough"), ("guilty", "innocent"), ("increase", "decrease"), ("maximum", "minimum"), ("noisy", "silent"),
    ("ancient", "modern"), ("smooth", "rough"), ("tight", "loose"), ("visible", "invisible"), ("sharp", "blunt"),
    ("victory", "defeat"), ("frozen", "melted"), ("public", "private"), ("import", "export"),
]


def antonym_rows(seed: int = 0) -> list[dict]:
    """One row per word pair: the word, four options (its opposite and three other pairs' opposites, shuffled) and
    the index of the right one."""
    rng = random.Random(seed)
    opposites = sorted({b for _, b in ANTONYMS})
    rows = []
    for word, opposite in ANTONYMS:
        distractors = rng.sample([o for o in opposites if o != opposite and o != word], 3)
        choices = distractors + [opposite]
        rng.shuffle(choices)
        rows.append({"word": word, "choices": choices, "label": choices.index(opposite)})
    rng.shuffle(rows)
    return rows


def arithmetic_rows(count: int = 96, seed: int = 0) -> list[dict]:
    """Two-digit additions whose ones digits carry (e.g. 47 + 38 = 85), each problem once."""
    rng = random.Random(seed)
    problems = sorted({(a, b) for a in range(10, 100) for b in range(10, 100) if a % 10 + b % 10 >= 10})
    return [{"question": f"What is {a} plus {b}?", "label": str(a + b)} for a, b in rng.sample(problems, count)]


def example_rows(name: str) -> dict[str, list[dict]]:
    """The train (demonstration pool) and validation rows of an example task."""
    if name == "antonyms":
        rows = antonym_rows()
        return {"train": rows[:24], "validation": rows[24:]}
    if name == "arithmetic":
        rows = arithmetic_rows()
        return {"train": rows[:32], "validation": rows[32:]}
    raise KeyError(name)


def example_dir(name: str) -> Path:
    """The folder holding `train.jsonl` and `validation.jsonl` of an example task (a local dataset directory)."""
    return EXAMPLES_DIR / name


def write_examples(directory: Path = EXAMPLES_DIR) -> None:
    """Write every example task's files under `directory/<name>/`."""
    for name in EXAMPLE_TASKS:
        for split, rows in example_rows(name).items():
            path = Path(directory) / name / f"{split}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


if __name__ == "__main__":
    write_examples()
