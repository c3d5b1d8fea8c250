"""Bad input: one clear message naming the problem and the fix, exit status 2, nothing written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from finetune_toolkit.core.errors import UserError

from helpers import ROOT, load_script, write_rows

GOOD_ROWS = [{"text": "a fine film", "label": 1}, {"text": "a dull film", "label": 0}]


@pytest.fixture
def run(tiny_distilbert, tmp_path):
    """Run the classifier script in-process on a train file; returns the UserError message."""
    script = load_script("finetune_classifier")
    output_dir = tmp_path / "out"

    def run_with(train_file=None, extra=(), model=tiny_distilbert):
        argv = ["--model_name_or_path", model, "--output_dir", str(output_dir), "--do_train", "--max_steps", "1",
                "--report_to", "none", *extra]
        if train_file:
            argv += ["--train_file", train_file]
        with pytest.raises(UserError) as caught:
            script.main(argv)
        assert not output_dir.exists(), "a refused run must write nothing"
        return str(caught.value)

    return run_with


def test_missing_file(run, tmp_path):
    assert run(str(tmp_path / "nope.csv")) == f"train file {str(tmp_path / 'nope.csv')!r} does not exist; check the path"


def test_unreadable_file(run, tmp_path, monkeypatch):
    path = write_rows(tmp_path / "train.csv", GOOD_ROWS)
    real_open = Path.open

    def deny(self, *args, **kwargs):
        if str(self) == path:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    assert "cannot read train file" in run(path) and "Permission denied" in run(path)


def test_unsupported_extension(run, tmp_path):
    path = tmp_path / "train.xlsx"
    path.write_text("x")
    assert "unsupported extension" in run(str(path))


def test_unknown_text_column_lists_the_available_ones(run, tmp_path):
    path = write_rows(tmp_path / "train.csv", [{"review": "good", "label": 1}, {"review": "bad", "label": 0}])
    message = run(path, ["--text_column", "sentence"])
    assert message == f"text column 'sentence' is not in {path!r}; available columns: review, label"


def test_unknown_label_column_lists_the_available_ones(run, tmp_path):
    path = write_rows(tmp_path / "train.csv", GOOD_ROWS)
    assert run(path, ["--label_column", "sentiment"]).endswith("pass --label_column, one of: text, label")


def test_empty_text_row(run, tmp_path):
    path = write_rows(tmp_path / "train.jsonl", GOOD_ROWS + [{"text": "  ", "label": 1}])
    assert run(path) == f"{path!r} row 3: empty text in column 'text'; fill or remove the row"


def test_non_utf8_file(run, tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes("text,label\ngood,1\n".encode() + "caf\xe9,0\n".encode("latin-1"))
    assert run(str(path)) == f"train file {str(path)!r} is not UTF-8 (bad byte near line 3); re-save it as UTF-8"


def test_empty_file(run, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n")
    assert "is empty" in run(str(path))


def test_missing_label(run, tmp_path):
    path = write_rows(tmp_path / "train.jsonl", GOOD_ROWS + [{"text": "fine", "label": None}])
    assert run(path) == f"{path!r} row 3: missing label; fill it in or remove the row"


def test_label_outside_the_label_set(run, tmp_path):
    train = write_rows(tmp_path / "train.jsonl", [{"text": "a", "label": "positive"}, {"text": "b", "label": "negative"}])
    validation = write_rows(tmp_path / "validation.jsonl", [{"text": "c", "label": "neutral"}])
    message = run(train, ["--validation_file", validation, "--do_eval"])
    assert "label 'neutral' is not in the label set ['negative', 'positive']" in message


def test_integer_label_outside_label_names(run, tmp_path):
    path = write_rows(tmp_path / "train.jsonl", GOOD_ROWS + [{"text": "x", "label": 2}])
    assert "label 2 is not in the label set ['negative', 'positive']" in run(path, ["--class_names", "negative,positive"])


def test_misspelled_model_name_gets_a_suggestion(run, tmp_path):
    path = write_rows(tmp_path / "train.jsonl", GOOD_ROWS)
    assert "did you mean 'gpt2'" in run(path, model="gpt-2")


def test_unreachable_hub_points_to_local_paths_and_offline_mode(run, tmp_path):
    path = write_rows(tmp_path / "train.jsonl", GOOD_ROWS)
    message = run(path, model="bert-base-uncased")
    assert "Hugging Face Hub is unreachable" in message and "HF_HUB_OFFLINE=1" in message and "local directory" in message


def test_unreachable_hub_for_a_dataset_points_to_local_files(run):
    message = run(extra=["--dataset_name", "nyu-mll/glue", "--dataset_config_name", "sst2"])
    assert message.startswith("cannot load dataset 'nyu-mll/glue'") and "pass local files (--train_file" in message


def test_model_directory_that_does_not_exist(run, tmp_path):
    path = write_rows(tmp_path / "train.jsonl", GOOD_ROWS)
    assert run(path, model="./no/such/model") == "model directory './no/such/model' does not exist; check the path"


def test_pickle_only_checkpoint_is_refused_unless_allowed(run, tmp_path, tiny_distilbert):
    import shutil

    import torch
    from transformers import AutoModelForSequenceClassification

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_distilbert, pickled)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_distilbert)
    (pickled / "model.safetensors").unlink()
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    path = write_rows(tmp_path / "train.jsonl", GOOD_ROWS)
    assert "pass --allow_pickle_weights if you trust it" in run(path, model=str(pickled))

    argv = ["--model_name_or_path", str(pickled), "--allow_pickle_weights", "--train_file", path, "--do_train",
            "--max_steps", "1", "--output_dir", str(tmp_path / "allowed"), "--report_to", "none"]
    assert load_script("finetune_classifier").main(argv)["train_samples"] == 2


def test_output_dir_that_is_not_empty(tiny_distilbert, tmp_path):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (output_dir / "keep.txt").write_text("precious")
    path = write_rows(tmp_path / "train.jsonl", GOOD_ROWS)
    argv = ["--model_name_or_path", tiny_distilbert, "--train_file", path, "--output_dir", str(output_dir), "--do_train"]
    with pytest.raises(UserError, match="exists and is not empty; pass --overwrite_output_dir"):
        load_script("finetune_classifier").main(argv)
    assert [p.name for p in output_dir.iterdir()] == ["keep.txt"]


def test_unknown_flag(run):
    message = run(extra=["--learning_rat", "1"])
    assert message == "unknown option '--learning_rat' (did you mean --learning_rate?); run with --help to list the options"


def test_script_prints_one_line_and_exits_2(tmp_path):
    """The real command line: no traceback, one line on stderr, status 2, nothing written."""
    output_dir = tmp_path / "out"
    command = [sys.executable, str(ROOT / "scripts" / "finetune_classifier.py"), "--model_name_or_path", "gpt-2",
               "--train_file", str(tmp_path / "missing.csv"), "--do_train", "--output_dir", str(output_dir)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: train file {str(tmp_path / 'missing.csv')!r} does not exist; check the path"]
    assert not output_dir.exists()


@pytest.fixture
def on_cpu(monkeypatch):
    """What `accelerate launch --cpu` sets: the CPU even on a machine with a GPU (so these run on both)."""
    from accelerate import PartialState

    monkeypatch.setenv("ACCELERATE_USE_CPU", "true")
    PartialState._reset_state()  # as in a fresh process: the device is decided again, now with the flag
    yield
    PartialState._reset_state()


@pytest.mark.parametrize("flags, message", [
    (["--fp16"], "--fp16 needs a CUDA GPU and none is in use; drop --fp16 to train in float32"),
    (["--bf16"], "--bf16 needs a GPU with bfloat16: no CUDA GPU is in use; drop --bf16"),
    (["--attn_implementation", "flash_attention_2"], "--attn_implementation flash_attention_2 needs a CUDA GPU and none is in use; use sdpa"),
    (["--attn_implementation", "flash"], "unknown --attn_implementation 'flash'; choose from: sdpa, eager"),
])
def test_gpu_only_flags_are_refused_on_cpu(on_cpu, run, tmp_path, flags, message):
    assert message in run(write_rows(tmp_path / "train.jsonl", GOOD_ROWS), flags)


def test_fewshot_half_precision_is_refused_on_cpu(on_cpu, fewshot_gpt2, fewshot_files, tmp_path):
    with pytest.raises(UserError, match="--dtype bfloat16 needs a CUDA GPU and none is in use"):
        load_script("fewshot").main(["--model_name_or_path", fewshot_gpt2, "--validation_file", fewshot_files["validation"],
                                     "--shots", "0", "--dtype", "bfloat16", "--output_dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_sdpa_and_eager_attention_give_the_same_scores(fewshot_gpt2):
    import torch

    from prompts.scoring import LabelScorer
    from finetune_toolkit.core.causal_lm import load_generator
    from finetune_toolkit.core.models import ModelArguments

    scores = []
    for kernel in ("sdpa", "eager"):
        model, tokenizer = load_generator(ModelArguments(fewshot_gpt2, attn_implementation=kernel))
        assert model.config._attn_implementation == kernel
        prompts = tokenizer(["Review: a dull plot\nSentiment:", "Review: good\nSentiment:"])["input_ids"]
        scores.append(LabelScorer(model, [[[5]], [[7, 9]]], batch_size=2, progress=False).score(prompts))
    torch.testing.assert_close(scores[0], scores[1], atol=1e-5, rtol=1e-5)


def test_census_findings_are_clean_errors(tiny_gpt2, fewshot_files, tmp_path):
    """Three inputs `benchmarks/bad_input_census.py` once found crashing, now one-line errors."""
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"prompt": ' + "[" * 5000 + "]" * 5000 + "}\n")
    with pytest.raises(UserError, match="line 1 nests JSON more than 100 levels deep"):
        load_script("generate").main(["--model_name_or_path", tiny_gpt2, "--prompts_file", str(deep)])
    with pytest.raises(UserError, match="--block_size must be at least 1, got -3"):
        load_script("finetune_lm").main(["--model_name_or_path", tiny_gpt2, "--train_file", fewshot_files["train"],
                                         "--do_train", "--block_size", "-3", "--output_dir", str(tmp_path / "lm")])
    with pytest.raises(UserError, match="--shots must be >= 0, got -1"):
        load_script("fewshot").main(["--model_name_or_path", tiny_gpt2, "--validation_file", fewshot_files["validation"],
                                     "--shots", "-1", "--output_dir", str(tmp_path / "fs")])
    assert not any(tmp_path.glob("lm")) and not any(tmp_path.glob("fs"))


@pytest.mark.parametrize("depth, refused", [(100, False), (101, True), (5000, True), (200000, True)])
def test_json_nesting_has_one_limit_on_every_python(depth, refused):
    """3.11 hits RecursionError on a few thousand levels and 3.12 parses them: our limit is 100 on both."""
    from finetune_toolkit.core.jsonio import JSONTooDeep, loads_bounded

    text = '{"prompt": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    if refused:
        with pytest.raises(JSONTooDeep, match="more than 100 levels deep"):
            loads_bounded(text)
    else:
        assert isinstance(loads_bounded(text)["prompt"], list)


@pytest.mark.parametrize("flag", ["--max_train_samples", "--max_eval_samples", "--max_predict_samples", "--max_seq_length"])
def test_classification_counts_must_be_at_least_one_like_every_other_count(run, tmp_path, flag):
    assert run(write_rows(tmp_path / "train.jsonl", GOOD_ROWS), [flag, "0"]) == f"{flag} must be at least 1, got 0"
