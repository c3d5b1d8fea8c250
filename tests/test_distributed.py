"""Two CPU processes under `accelerate launch`: the same metrics and predictions as one process, written once."""

import json
import subprocess
import sys

import pytest

from helpers import ROOT, fast_training_flags, load_script, sentiment_rows, write_rows

LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no"]


def _launch(script: str, args: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run([*LAUNCH, str(ROOT / "scripts" / script), *args], capture_output=True, text=True, cwd=ROOT,
                            timeout=600, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def odd_sized_files(tmp_path_factory):
    rows = sentiment_rows(seed=2)
    directory = tmp_path_factory.mktemp("odd")
    # 63 evaluation rows: not a multiple of 2 processes x batch size, so padding duplicates must be dropped.
    return {"train": write_rows(directory / "train.jsonl", rows[:200]), "validation": write_rows(directory / "val.jsonl", rows[200:263])}


def test_classifier_under_two_processes_scores_the_whole_eval_set_once(tiny_distilbert, odd_sized_files, tmp_path):
    output_dir = tmp_path / "ddp"
    result = _launch("finetune_classifier.py", [
        "--model_name_or_path", tiny_distilbert, "--train_file", odd_sized_files["train"],
        "--validation_file", odd_sized_files["validation"], "--test_file", odd_sized_files["validation"],
        "--do_train", "--do_eval", "--do_predict", *fast_training_flags(output_dir), "--per_device_eval_batch_size", "8",
    ])
    results = json.loads((output_dir / "all_results.json").read_text())
    assert results["eval_samples"] == 63
    assert len((output_dir / "predictions.jsonl").read_text().splitlines()) == 63
    assert (result.stdout + result.stderr).count("***** eval metrics *****") == 1  # only the main process reports
    assert not list(output_dir.glob("*rank*")) and (output_dir / "model.safetensors").is_file()

    # One process evaluating the saved model gets the same numbers: nothing counted twice or left out.
    single = load_script("finetune_classifier").main([
        "--model_name_or_path", str(output_dir), "--validation_file", odd_sized_files["validation"], "--do_eval",
        "--output_dir", str(tmp_path / "single"), "--report_to", "none", "--per_device_eval_batch_size", "8",
    ])
    assert single["eval_accuracy"] == results["eval_accuracy"]
    # The Trainer's eval loss is a mean of batch means; each process's last batch is padded with a repeated example,
    # which enters that batch's mean (gather_for_metrics drops the repeat from the metrics, not from the mean). So
    # the losses agree to about one example in 63, not exactly; without the Trainer multiplying the eval loss by the
    # number of processes (ScoringTrainer.compute_loss), two processes gave twice one process's loss.
    assert single["eval_loss"] == pytest.approx(results["eval_loss"], rel=2e-3)


def test_fewshot_sharded_over_two_processes_equals_one_process(fewshot_gpt2, fewshot_files, tmp_path):
    args = ["--model_name_or_path", fewshot_gpt2, "--train_file", fewshot_files["train"], "--validation_file",
            fewshot_files["validation"], "--shots", "0", "2", "--seeds", "0", "--calibrate"]
    _launch("fewshot.py", [*args, "--output_dir", str(tmp_path / "two")])
    load_script("fewshot").main([*args, "--output_dir", str(tmp_path / "one")])
    for run in (tmp_path / "one" / "predictions").iterdir():
        one = [json.loads(line) for line in run.read_text().splitlines()]
        two = [json.loads(line) for line in (tmp_path / "two" / "predictions" / run.name).read_text().splitlines()]
        assert [r["prediction"] for r in one] == [r["prediction"] for r in two]
        assert [r["calibrated_prediction"] for r in one] == [r["calibrated_prediction"] for r in two]
        for a, b in zip(one, two):
            assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
    assert_same_rows(tmp_path / "one", tmp_path / "two")


def assert_same_rows(one_dir, two_dir) -> None:
    """The two sweeps' results rows: the same names and counts, scores equal up to float summation order (each
    process batches its share differently)."""
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("seconds", "examples_per_second")} for r in rows]
    one_rows, two_rows = (strip(json.loads((directory / "results.json").read_text())) for directory in (one_dir, two_dir))
    assert [row.keys() for row in one_rows] == [row.keys() for row in two_rows]
    for a, b in zip(one_rows, two_rows):
        assert {k: v for k, v in a.items() if not isinstance(v, float)} == {k: v for k, v in b.items() if not isinstance(v, float)}
        assert [v for v in a.values() if isinstance(v, float)] == pytest.approx([v for v in b.values() if isinstance(v, float)], abs=1e-6)


@pytest.mark.parametrize("task", ["antonyms", "arithmetic"])
def test_multiple_choice_and_generation_over_two_processes_equal_one_process(fewshot_gpt2, task, tmp_path):
    """Each process scores (or generates) a contiguous share of the examples; rows and predictions equal one process's."""
    args = ["--model_name_or_path", fewshot_gpt2, "--template", task, "--dataset_name", f"example:{task}", "--shots", "0", "2",
            "--max_eval_samples", "11", *(["--max_new_tokens", "3"] if task == "arithmetic" else [])]  # 11: shares of 6 and 5
    launched = _launch("fewshot.py", [*args, "--output_dir", str(tmp_path / "two")])
    if task == "arithmetic":
        assert "generating: 6/6 prompt" in launched.stderr and "generating: 11/11" not in launched.stderr
    load_script("fewshot").main([*args, "--output_dir", str(tmp_path / "one")])
    for run in (tmp_path / "one" / "predictions").iterdir():
        one = [json.loads(line) for line in run.read_text().splitlines()]
        two = [json.loads(line) for line in (tmp_path / "two" / "predictions" / run.name).read_text().splitlines()]
        assert [r["prediction"] for r in one] == [r["prediction"] for r in two] and len(one) == 11
        for a, b in zip(one, two):
            if "option_log_probs" in a:
                assert a["option_log_probs"] == pytest.approx(b["option_log_probs"], abs=1e-5)
    assert_same_rows(tmp_path / "one", tmp_path / "two")


def test_eval_and_predict_with_generate_over_two_processes_equal_one_process(fewshot_gpt2, tmp_path):
    """Each process generates its share of the prompts; the gathered answers and scores equal one process's."""
    pytest.importorskip("rouge_score")
    rows = [{"prompt": f"Review: {row['text']}\nSentiment:", "completion": " " + ("positive" if row["label"] else "negative")}
            for row in sentiment_rows(seed=4)[:23]]  # an odd count: the shares differ in size
    validation, test = write_rows(tmp_path / "validation.jsonl", rows[:13]), write_rows(tmp_path / "test.jsonl", rows[13:])
    args = ["--model_name_or_path", fewshot_gpt2, "--validation_file", validation, "--test_file", test, "--do_eval",
            "--do_predict", "--eval_with_generate", "--max_new_tokens", "4", "--report_to", "none", "--print_metrics", "false"]
    launched = _launch("finetune_lm.py", [*args, "--output_dir", str(tmp_path / "two")])
    # 13 validation prompts: 7 and 6 per process, never all 13 on one
    assert "generating: 7/7 prompt" in launched.stderr and "generating: 6/6 prompt" in launched.stderr
    assert "generating: 13/13" not in launched.stderr
    load_script("finetune_lm").main([*args, "--output_dir", str(tmp_path / "one")])
    one, two = (json.loads((tmp_path / run / "all_results.json").read_text()) for run in ("one", "two"))
    for name in ("eval_rougeL", "eval_bleu", "eval_exact_match", "predict_rougeL", "predict_chrf", "predict_samples"):
        assert one[name] == pytest.approx(two[name]), name
    assert (tmp_path / "one" / "generated_predictions.jsonl").read_text() == (tmp_path / "two" / "generated_predictions.jsonl").read_text()


@pytest.mark.parametrize("name", ["multi_gpu", "fsdp", "deepspeed_zero2"])
def test_shipped_accelerate_configs_parse(name):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ROOT / "configs" / "accelerate" / f"{name}.yaml"))
    assert config.num_processes == 4 and config.mixed_precision == "bf16"
    assert str(config.distributed_type).endswith({"multi_gpu": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero2": "DEEPSPEED"}[name])


def test_causal_lm_under_two_processes_scores_every_block_once(tiny_gpt2, tmp_path):
    from helpers import LM_CORPUS

    (tmp_path / "train.txt").write_text("\n".join(LM_CORPUS) + "\n")
    (tmp_path / "validation.txt").write_text("\n".join(LM_CORPUS[:11]) + "\n")  # an odd number of blocks
    data = ["--train_file", str(tmp_path / "train.txt"), "--validation_file", str(tmp_path / "validation.txt"),
            "--block_size", "16", "--per_device_eval_batch_size", "2", "--report_to", "none"]
    output_dir = tmp_path / "ddp"
    _launch("finetune_lm.py", ["--model_name_or_path", tiny_gpt2, *data, "--do_train", "--do_eval", "--num_train_epochs", "1",
                               "--per_device_train_batch_size", "4", "--save_strategy", "no", "--output_dir", str(output_dir)])
    results = json.loads((output_dir / "all_results.json").read_text())
    single = load_script("finetune_lm").main(["--model_name_or_path", str(output_dir), *data, "--do_eval",
                                              "--output_dir", str(tmp_path / "single")])
    assert single["eval_samples"] == results["eval_samples"] and results["eval_samples"] % 2 == 1
    # Mean of batch means with a repeated block in one process's last batch (see the classifier's test above): close,
    # not exact; with the loss multiplied by the process count it was the square of this perplexity.
    assert single["eval_perplexity"] == pytest.approx(results["eval_perplexity"], rel=2e-2)
