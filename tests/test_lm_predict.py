"""Predict and evaluate with generate (`finetune-toolkit lm --do_predict --test_file`, `--eval_with_generate`):
answers written in test order, scores equal to the scorer on those answers, the best checkpoint chosen by ROUGE-L."""

import json

import pytest

from finetune_toolkit.core.errors import UserError

from helpers import load_script, sentiment_rows, write_rows

pytest.importorskip("rouge_score")
pytest.importorskip("sacrebleu")

FLAGS = ["--per_device_train_batch_size", "8", "--report_to", "none", "--seed", "0", "--print_metrics", "false",
         "--max_new_tokens", "4", "--stop", "\\n"]


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    rows = [{"prompt": f"Review: {row['text']}\nSentiment:", "completion": " " + ("positive" if row["label"] else "negative")}
            for row in sentiment_rows(seed=3)[:80]]
    directory = tmp_path_factory.mktemp("pairs")
    return {"train": write_rows(directory / "train.jsonl", rows[:48]), "validation": write_rows(directory / "validation.jsonl", rows[48:64]),
            "test": write_rows(directory / "test.jsonl", rows[64:]), "rows": rows}


def test_do_predict_writes_answers_in_test_order_and_their_scores(fewshot_gpt2, pair_files, tmp_path):
    from finetune_toolkit.core.causal_lm import load_generator
    from finetune_toolkit.core.generation import GenerationArguments, generate
    from finetune_toolkit.core.metrics import generation_scores

    output_dir = tmp_path / "run"
    metrics = load_script("finetune_lm").main(["--model_name_or_path", fewshot_gpt2, "--train_file", pair_files["train"],
                                               "--test_file", pair_files["test"], "--do_train", "--do_predict", "--max_steps", "4",
                                               "--max_predict_samples", "10", "--output_dir", str(output_dir), *FLAGS])
    written = [json.loads(line) for line in (output_dir / "generated_predictions.jsonl").read_text().splitlines()]
    expected_rows = pair_files["rows"][64:74]
    assert [row["prompt"] for row in written] == [row["prompt"] for row in expected_rows]
    assert [row["reference"] for row in written] == [row["completion"] for row in expected_rows]
    # The same answers as generating with the saved model, independently of the training run.
    model, tokenizer = load_generator(str(output_dir))
    again = generate(model, tokenizer, [row["prompt"] for row in expected_rows], GenerationArguments(max_new_tokens=4, stop=["\n"]))
    assert [row["prediction"] for row in written] == [texts[0] for texts in again]
    scores = generation_scores([row["prediction"] for row in written], [row["reference"] for row in written])
    results = json.loads((output_dir / "predict_results.json").read_text())
    for name, value in scores.items():
        assert results[f"predict_{name}"] == pytest.approx(value) and metrics[f"predict_{name}"] == pytest.approx(value)
    assert results["predict_samples"] == 10 and "predict_gen_len" in results and "predict_generation_tokens_per_second" in results
    assert json.loads((output_dir / "all_results.json").read_text())["predict_rougeL"] == pytest.approx(scores["rougeL"])
    from finetune_toolkit.report import load_report

    report = load_report(output_dir)  # written at the end of the run: the test prompts, references and answers
    assert (output_dir / "report.html").is_file() and report.runs[0]["examples"] == 10
    assert [(row["q"], row["g"], row["p"]) for row in report.rows] == [(r["prompt"], r["reference"], r["prediction"]) for r in written]


def test_eval_with_generate_scores_every_evaluation_and_picks_the_best_checkpoint_by_rouge(fewshot_gpt2, pair_files, tmp_path):
    output_dir = tmp_path / "run"
    metrics = load_script("finetune_lm").main([
        "--model_name_or_path", fewshot_gpt2, "--train_file", pair_files["train"], "--validation_file", pair_files["validation"],
        "--do_train", "--do_eval", "--max_steps", "6", "--learning_rate", "5e-3", "--eval_strategy", "steps", "--eval_steps", "2",
        "--save_strategy", "steps", "--save_steps", "2", "--eval_with_generate", "--max_eval_generate_samples", "8",
        "--metric_for_best_model", "rougeL", "--load_best_model_at_end", "--output_dir", str(output_dir), *FLAGS])
    assert "eval_rougeL" in metrics and "eval_loss" in metrics and "eval_before_training_rougeL" in metrics
    state = json.loads((output_dir / "trainer_state.json").read_text())
    during = [log["eval_rougeL"] for log in state["log_history"] if "eval_rougeL" in log]
    assert len(during) >= 3 and state["best_metric"] == pytest.approx(max(during))


@pytest.mark.parametrize("case, message", [
    ("no_test_file", "--do_predict answers the prompts of a test file; pass --test_file"),
    ("no_completion", "has a 'prompt' column but no 'completion' column"),
    ("empty_reference", "row 2: the reference answer is empty"),
    ("plain_text_eval", "generating and scoring answers needs prompt/completion or messages data"),
])
def test_bad_generation_input_is_refused_before_anything_is_written(case, message, fewshot_gpt2, pair_files, tmp_path):
    argv = ["--model_name_or_path", fewshot_gpt2, "--train_file", pair_files["train"], "--do_train", "--max_steps", "2",
            "--output_dir", str(tmp_path / "run"), *FLAGS]
    if case == "no_test_file":
        argv += ["--do_predict"]
    elif case == "no_completion":
        argv += ["--do_predict", "--test_file", write_rows(tmp_path / "t.jsonl", [{"prompt": "a", "answer": "b"}])]
    elif case == "empty_reference":
        argv += ["--do_predict", "--test_file", write_rows(tmp_path / "t.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": " "}])]
    else:
        text = tmp_path / "corpus.txt"
        text.write_text("the cat sat on the mat\n" * 40)
        argv = ["--model_name_or_path", fewshot_gpt2, "--train_file", str(text), "--validation_file", str(text), "--do_train", "--do_eval",
                "--block_size", "16", "--max_steps", "2", "--eval_with_generate", "--output_dir", str(tmp_path / "run"), *FLAGS]
    with pytest.raises(UserError, match=message):
        load_script("finetune_lm").main(argv)
    assert not (tmp_path / "run").exists()
