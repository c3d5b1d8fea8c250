"""The data-loading matrix: formats, columns, labels, carved validation, sample limits."""

import datasets
import pytest

from finetune.data import DataArguments, load_classification_data, movie_review_files

from helpers import write_rows

ROWS = [
    {"text": "a fine film", "label": "positive"},
    {"text": "a dull film", "label": "negative"},
    {"text": "great fun", "label": "positive"},
    {"text": "so boring", "label": "negative"},
]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_every_format_loads_the_same_rows(tmp_path, suffix):
    path = write_rows(tmp_path / f"train{suffix}", ROWS)
    data = load_classification_data(DataArguments(train_file=path), need=("train",))
    train = data.splits["train"]
    assert train["text"] == [row["text"] for row in ROWS]
    assert data.label_names == ["negative", "positive"]  # string labels, sorted
    assert train["label"] == [1, 0, 1, 0]
    assert train.features["label"] == datasets.ClassLabel(names=["negative", "positive"])


def test_text_column_is_found_by_its_usual_names(tmp_path):
    path = write_rows(tmp_path / "train.jsonl", [{"sentence": r["text"], "label": r["label"]} for r in ROWS])
    data = load_classification_data(DataArguments(train_file=path), need=("train",))
    assert data.text_columns == ["sentence"]


def test_chosen_text_and_label_columns(tmp_path):
    rows = [{"id": i, "review": r["text"], "stars": 5 if r["label"] == "positive" else 1} for i, r in enumerate(ROWS)]
    path = write_rows(tmp_path / "train.csv", rows)
    data = load_classification_data(DataArguments(train_file=path, text_column="review", label_column="stars"), need=("train",))
    assert data.text_columns == ["review"]
    assert data.label_names == ["1", "5"]
    assert data.splits["train"].column_names == ["review", "stars"]
    assert data.splits["train"]["stars"] == [1, 0, 1, 0]


def test_sentence_pairs_are_detected(tmp_path):
    rows = [{"premise": "a man sleeps", "hypothesis": "a man rests", "label": 0},
            {"premise": "a man sleeps", "hypothesis": "a man runs", "label": 1}]
    path = write_rows(tmp_path / "train.jsonl", rows)
    data = load_classification_data(DataArguments(train_file=path), need=("train",))
    assert data.text_columns == ["premise", "hypothesis"]


def test_class_label_feature_keeps_its_order(tmp_path):
    # A ClassLabel whose names are not sorted must keep its ids, not be re-sorted.
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["pos", "neg"])})
    dataset = datasets.Dataset.from_dict({"text": ["good", "bad", "fine"], "label": [0, 1, 0]}, features=features)
    path = tmp_path / "train.parquet"
    dataset.to_parquet(str(path))
    data = load_classification_data(DataArguments(train_file=str(path)), need=("train",))
    assert data.label_names == ["pos", "neg"]
    assert data.splits["train"]["label"] == [0, 1, 0]


def test_integer_labels_with_label_names(tmp_path):
    path = write_rows(tmp_path / "train.jsonl", [{"text": "x", "label": 1}, {"text": "y", "label": 0}])
    data = load_classification_data(DataArguments(train_file=path, class_names="negative,positive"), need=("train",))
    assert data.id2label == {0: "negative", 1: "positive"}
    assert data.splits["train"]["label"] == [1, 0]


def test_validation_labels_map_to_the_training_ids(tmp_path):
    train = write_rows(tmp_path / "train.jsonl", ROWS)
    validation = write_rows(tmp_path / "validation.jsonl", [{"text": "meh", "label": "negative"}])
    data = load_classification_data(DataArguments(train_file=train, validation_file=validation))
    assert data.splits["validation"]["label"] == [0]


def test_validation_is_carved_from_train_stratified(tmp_path):
    rows = [{"text": f"review number {i}", "label": "positive" if i % 4 else "negative"} for i in range(200)]
    path = write_rows(tmp_path / "train.jsonl", rows)
    data = load_classification_data(DataArguments(train_file=path, validation_split_percentage=20), seed=3)
    train, validation = data.splits["train"], data.splits["validation"]
    assert (len(train), len(validation)) == (160, 40)
    assert validation["label"].count(0) == 10  # a quarter are negative, in both parts
    assert not set(train["text"]) & set(validation["text"])
    again = load_classification_data(DataArguments(train_file=path, validation_split_percentage=20), seed=3)
    assert again.splits["validation"]["text"] == validation["text"]


def test_sample_limits_take_the_first_rows(tmp_path):
    train = write_rows(tmp_path / "train.jsonl", ROWS)
    validation = write_rows(tmp_path / "validation.jsonl", ROWS)
    args = DataArguments(train_file=train, validation_file=validation, max_train_samples=3, max_eval_samples=1)
    data = load_classification_data(args)
    assert data.splits["train"]["text"] == [r["text"] for r in ROWS[:3]]
    assert len(data.splits["validation"]) == 1


def test_test_split_may_have_no_labels(tmp_path):
    train = write_rows(tmp_path / "train.jsonl", ROWS)
    test = write_rows(tmp_path / "test.jsonl", [{"text": "unlabelled"}])
    data = load_classification_data(DataArguments(train_file=train, test_file=test), need=("train", "test"))
    assert data.splits["test"].column_names == ["text"]


def test_csv_with_byte_order_mark_and_windows_line_endings(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes("\ufefftext,label\r\ngood film,positive\r\nbad film,negative\r\n".encode("utf-8"))
    data = load_classification_data(DataArguments(train_file=str(path)), need=("train",))
    assert data.splits["train"]["text"] == ["good film", "bad film"]


def test_dataset_name_accepts_a_local_dataset_directory(tmp_path):
    write_rows(tmp_path / "sst" / "train.jsonl", ROWS)
    write_rows(tmp_path / "sst" / "validation.jsonl", ROWS[:2])
    data = load_classification_data(DataArguments(dataset_name=str(tmp_path / "sst")))
    assert (len(data.splits["train"]), len(data.splits["validation"])) == (4, 2)


def test_shipped_movie_reviews_are_balanced_and_disjoint():
    files = movie_review_files()
    data = load_classification_data(
        DataArguments(train_file=files["train"], test_file=files["test"], class_names="negative,positive"),
        need=("train", "test"),
    )
    train, test = data.splits["train"], data.splits["test"]
    assert len(train) + len(test) >= 400
    assert train["label"].count(0) == train["label"].count(1)
    assert test["label"].count(0) == test["label"].count(1)
    assert len(set(train["text"])) == len(train)
    assert not set(train["text"]) & set(test["text"])
