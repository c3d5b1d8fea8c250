"""Fine-tuning tiny encoders end to end: train, evaluate, save, reload, pipeline()."""

import json

import pytest

from finetune_toolkit.core.metrics import classification_scores

from helpers import fast_training_flags, load_script, sentiment_rows, write_rows


@pytest.fixture(scope="module")
def trained_distilbert(tiny_distilbert, sentiment_files, tmp_path_factory):
    """A tiny DistilBERT fine-tuned by the script on the synthetic task, with predictions."""
    output_dir = tmp_path_factory.mktemp("run") / "distilbert"
    test_file = write_rows(output_dir.parent / "test.jsonl", [{"text": "the plot was wonderful"}, {"text": "a dreadful ending"}])
    argv = [
        "--model_name_or_path", tiny_distilbert, "--train_file", sentiment_files["train"],
        "--validation_file", sentiment_files["validation"], "--test_file", test_file,
        "--class_names", "negative,positive", "--do_train", "--do_eval", "--do_predict",
        "--evaluate_before_training", *fast_training_flags(output_dir),
    ]
    metrics = load_script("finetune_classifier").main(argv)
    return output_dir, metrics


@pytest.mark.learning
def test_distilbert_learns_the_task(trained_distilbert):
    _, metrics = trained_distilbert
    assert metrics["eval_accuracy"] >= 0.9
    assert metrics["eval_accuracy"] - metrics["eval_before_training_accuracy"] >= 0.3


def test_results_use_the_trainer_keys(trained_distilbert):
    output_dir, metrics = trained_distilbert
    saved = json.loads((output_dir / "all_results.json").read_text())
    for key in ("eval_accuracy", "eval_f1", "eval_precision", "eval_recall", "train_runtime", "train_samples_per_second", "eval_loss"):
        assert key in saved
    assert saved["eval_accuracy"] == pytest.approx(metrics["eval_accuracy"])
    assert saved["train_samples"] == 448 and saved["eval_samples"] == 64


def test_predictions_file_names_labels_with_probabilities(trained_distilbert):
    output_dir, _ = trained_distilbert
    rows = [json.loads(line) for line in (output_dir / "predictions.jsonl").read_text().splitlines()]
    assert [row["text"] for row in rows] == ["the plot was wonderful", "a dreadful ending"]
    assert [row["prediction"] for row in rows] == ["positive", "negative"]
    for row in rows:
        assert set(row["probabilities"]) == {"negative", "positive"}
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_saved_model_loads_in_pipeline(trained_distilbert):
    from transformers import pipeline

    output_dir, _ = trained_distilbert
    classifier = pipeline("text-classification", model=str(output_dir))
    predictions = classifier(["what a superb story this is", "the acting was horrible"])
    assert [p["label"] for p in predictions] == ["positive", "negative"]
    assert all(p["score"] > 0.5 for p in predictions)


def test_eval_only_on_the_saved_model_gives_the_same_accuracy(trained_distilbert, sentiment_files, tmp_path):
    output_dir, metrics = trained_distilbert
    argv = ["--model_name_or_path", str(output_dir), "--validation_file", sentiment_files["validation"],
            "--class_names", "negative,positive", "--do_eval", "--output_dir", str(tmp_path / "eval"), "--report_to", "none"]
    reloaded = load_script("finetune_classifier").main(argv)
    assert reloaded["eval_accuracy"] == pytest.approx(metrics["eval_accuracy"])


@pytest.mark.learning
def test_bert_learns_from_the_second_text_of_a_pair(tiny_bert, tmp_path):
    # The label is the sentiment of sentence2; sentence1 is a distractor with random sentiment.
    rows = sentiment_rows(seed=1)
    distractors = sentiment_rows(seed=2)
    pairs = [{"sentence1": d["text"], "sentence2": r["text"], "label": r["label"]} for r, d in zip(rows, distractors)]
    train = write_rows(tmp_path / "train.csv", pairs[:448])
    validation = write_rows(tmp_path / "validation.csv", pairs[448:])
    argv = ["--model_name_or_path", tiny_bert, "--train_file", train, "--validation_file", validation,
            "--do_train", "--do_eval", *fast_training_flags(tmp_path / "out")]
    argv[argv.index("--num_train_epochs") + 1] = "6"
    metrics = load_script("finetune_classifier").main(argv)
    assert metrics["eval_accuracy"] >= 0.85


def test_config_file_replaces_flags(tiny_distilbert, sentiment_files, tmp_path):
    config = {
        "model_name_or_path": tiny_distilbert, "train_file": sentiment_files["train"],
        "validation_file": sentiment_files["validation"], "do_train": True, "do_eval": True,
        "output_dir": str(tmp_path / "out"), "max_steps": 2, "save_strategy": "no", "report_to": "none",
    }
    path = tmp_path / "config.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config))
    metrics = load_script("finetune_classifier").main([str(path)])
    assert metrics["train_samples"] == 448 and "eval_accuracy" in metrics
    assert (tmp_path / "out" / "config.json").is_file()


@pytest.mark.learning
def test_length_grouping_and_static_padding_train(tiny_distilbert, sentiment_files, tmp_path):
    for name, extra in (("grouped", ["--group_by_length"]), ("static", ["--pad_to_max_length", "--max_seq_length", "32"])):
        argv = ["--model_name_or_path", tiny_distilbert, "--train_file", sentiment_files["train"],
                "--validation_file", sentiment_files["validation"], "--do_train", "--do_eval", *extra,
                *fast_training_flags(tmp_path / name)]
        assert load_script("finetune_classifier").main(argv)["eval_accuracy"] >= 0.9


def test_metrics_match_a_hand_computation():
    # Class 0: TP=2 FP=1 FN=1 -> P=2/3 R=2/3; class 1: TP=1 FP=1 FN=1 -> P=1/2 R=1/2; class 2: TP=1 FP=0 FN=0.
    predictions = [0, 0, 1, 0, 2, 1]
    references = [0, 0, 1, 1, 2, 0]
    scores = classification_scores(predictions, references)
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["precision"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert scores["recall"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert scores["f1"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)


def test_macro_f1_counts_a_never_predicted_class_as_zero():
    scores = classification_scores([1, 1, 1, 1], [0, 1, 1, 1])
    # Class 0: F1 = 0; class 1: P = 3/4, R = 1, F1 = 6/7.
    assert scores["f1"] == pytest.approx((0 + 6 / 7) / 2)


def test_micro_and_weighted_averages():
    predictions, references = [0, 0, 1, 0, 2, 1], [0, 0, 1, 1, 2, 0]
    assert classification_scores(predictions, references, average="micro")["f1"] == pytest.approx(4 / 6)
    # Supports 3, 2, 1; per-class F1 2/3, 1/2, 1.
    weighted = classification_scores(predictions, references, average="weighted")["f1"]
    assert weighted == pytest.approx((3 * 2 / 3 + 2 * 1 / 2 + 1 * 1) / 6)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None, "binary"])
def test_precision_recall_and_f1_equal_scikit_learns(seed, average):
    """scikit-learn's definitions (zero_division=0), on random labels where some classes are never predicted."""
    import numpy as np
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = np.random.default_rng(seed)
    references = rng.integers(0, 4, 40)
    predictions = np.where(rng.random(40) < 0.5, references, rng.integers(0, 3, 40))  # class 3 only by luck
    if average == "binary":
        references, predictions = references % 2, predictions % 2
    scores = classification_scores(predictions.tolist(), references.tolist(), average=average)
    labels = sorted(set(references.tolist()) | set(predictions.tolist())) if average != "binary" else None
    precision, recall, f1, _ = precision_recall_fscore_support(references, predictions, average=average, labels=labels,
                                                               zero_division=0)
    assert scores["accuracy"] == pytest.approx(accuracy_score(references, predictions))
    for name, expected in (("precision", precision), ("recall", recall), ("f1", f1)):
        assert np.allclose(scores[name], expected), name
