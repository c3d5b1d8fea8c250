"""The adaptation comparison: every method on the same data, one table, one plot, resumable, bad input refused."""

import json

import pytest

from toolkit.errors import UserError

from helpers import load_script, sentiment_rows, write_rows


@pytest.fixture(scope="module")
def labelled_files(tmp_path_factory):
    rows = sentiment_rows(seed=3)
    directory = tmp_path_factory.mktemp("compare-data")
    return {"train": write_rows(directory / "train.jsonl", rows[:384]), "validation": write_rows(directory / "validation.jsonl", rows[384:448])}


def compare_argv(model, files, output_dir, *extra):
    return ["--model_name_or_path", model, "--train_file", files["train"], "--validation_file", files["validation"],
            "--output_dir", str(output_dir), "--num_train_epochs", "10", "--lora_learning_rate", "1e-2", "--lora_r", "8",
            "--full_learning_rate", "3e-3", "--prompt_tuning_learning_rate", "3e-2", "--num_virtual_tokens", "4", *extra]


@pytest.fixture(scope="module")
def comparison(base_gpt2, labelled_files, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("compare") / "run"
    return output_dir, load_script("compare_adaptation").main(compare_argv(base_gpt2, labelled_files, output_dir))


@pytest.mark.learning
def test_every_method_is_reported_with_its_trainable_parameters(comparison):
    output_dir, rows = comparison
    by_method = {row["method"]: row for row in rows}
    assert list(by_method) == ["zero_shot", "icl", "icl_calibrated", "prompt_tuning", "lora", "full"]
    assert by_method["zero_shot"]["trainable_parameters"] == 0 and by_method["icl"]["shots"] == 4
    assert by_method["prompt_tuning"]["trainable_parameters"] == 4 * 32
    assert 0 < by_method["lora"]["trainable_parameters"] < by_method["full"]["trainable_parameters"]
    # The tiny model knows nothing before training; both weight-training methods learn the task.
    assert by_method["zero_shot"]["accuracy"] < 0.8
    assert by_method["lora"]["accuracy"] >= 0.9 and by_method["full"]["accuracy"] >= 0.9
    saved = json.loads((output_dir / "comparison.json").read_text())
    assert [row["method"] for row in saved["methods"]] == list(by_method)
    assert (output_dir / "accuracy_vs_parameters.png").stat().st_size > 10_000
    assert "| lora |" in (output_dir / "comparison.md").read_text()


def test_a_rerun_resumes_without_training_again(comparison, base_gpt2, labelled_files, capsys):
    output_dir, rows = comparison
    again = load_script("compare_adaptation").main(compare_argv(base_gpt2, labelled_files, output_dir))
    assert again == rows


def test_another_plan_in_the_same_directory_is_refused(comparison, base_gpt2, labelled_files):
    output_dir, _ = comparison
    with pytest.raises(UserError, match="holds a comparison with other data or model"):
        load_script("compare_adaptation").main(compare_argv(base_gpt2, labelled_files, output_dir, "--shots", "2"))


def test_an_unknown_method_is_refused(base_gpt2, labelled_files, tmp_path):
    with pytest.raises(UserError, match="unknown --methods prefix_tuning; choose from: zero_shot, icl"):
        load_script("compare_adaptation").main(compare_argv(base_gpt2, labelled_files, tmp_path / "out", "--methods", "prefix_tuning"))
    assert not (tmp_path / "out").exists()
