"""One answer for each text and label value, whether classification or few-shot prompting reads the file."""

import pytest

from finetune.data import DataArguments, load_classification_data
from prompts.data import FewShotDataArguments, load_fewshot_data
from prompts.template import load_template
from finetune_toolkit.core.errors import UserError

from helpers import write_rows

TEXTS = ["a gem of a film", "dull and long", "what a joy", "a waste of time"]


def _classification_ids(path) -> list[int]:
    data = load_classification_data(DataArguments(train_file=path, class_names="negative,positive"), need=("train",))
    return data.splits["train"]["label"]


def _fewshot_ids(path) -> list[int]:
    _, evaluation = load_fewshot_data(FewShotDataArguments(validation_file=path), load_template("sentiment"), need_pool=False)
    return evaluation.labels


@pytest.mark.parametrize("load", [_classification_ids, _fewshot_ids])
def test_whole_number_floats_are_label_ids_in_both_packages(load, tmp_path):
    # A CSV column of integers with one blank cell is read as floats: 1.0 must still mean label 1.
    path = write_rows(tmp_path / "floats.csv", [{"text": t, "label": float(i % 2)} for i, t in enumerate(TEXTS)])
    assert load(path) == [0, 1, 0, 1]


@pytest.mark.parametrize("load", [_classification_ids, _fewshot_ids])
@pytest.mark.parametrize("label, message", [
    (0.5, "row 2: label 0.5 is not a class label (a name or a whole number)"),
    (True, "row 2: label True is not a class label (a name or a whole number)"),
    (None, "row 2: missing label; fill it in or remove the row"),
])
def test_bad_labels_get_the_same_message_in_both_packages(load, label, message, tmp_path):
    path = write_rows(tmp_path / "bad.jsonl", [{"text": TEXTS[0], "label": 0}, {"text": TEXTS[1], "label": label}])
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(path)


@pytest.mark.parametrize("load", [_classification_ids, _fewshot_ids])
@pytest.mark.parametrize("text, message", [
    ("   ", "row 2: empty text in column 'text'; fill or remove the row"),
    (7, "row 2: column 'text' holds int values, not text"),
])
def test_bad_texts_get_the_same_message_in_both_packages(load, text, message, tmp_path):
    path = write_rows(tmp_path / "bad.jsonl", [{"text": TEXTS[0], "label": 0}, {"text": text, "label": 1}])
    with pytest.raises(UserError, match=message):
        load(path)
