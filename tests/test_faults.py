"""Fine-tuning killed with SIGKILL and rerun with the same command ends exactly where an uninterrupted run ends."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from finetune.checkpoints import checkpoint_problem, last_complete_checkpoint, resume_point

from helpers import ROOT


def _command(model, files, output_dir, script="finetune_classifier.py", max_steps=96):
    return [sys.executable, str(ROOT / "scripts" / script), "--model_name_or_path", model,
            "--train_file", files["train"], "--validation_file", files["validation"], "--do_train", "--do_eval",
            "--output_dir", str(output_dir), "--max_steps", str(max_steps), "--save_steps", "4", "--learning_rate", "3e-3",
            "--per_device_train_batch_size", "16", "--report_to", "none", "--disable_tqdm", "true", "--seed", "0",
            "--logging_steps", "100"]


def _kill_at_random(command, output_dir, seed, stop=signal.SIGKILL):
    """Start `command`, wait for a random checkpoint, then send `stop`: at once, or the moment the next checkpoint's
    directory appears (usually while its files are still being written). Events, not clocks: the same on a fast
    machine and a slow one."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    rng = random.Random(seed)
    target = rng.choice([4, 8, 12, 16])
    events = [output_dir / f"checkpoint-{target}" / "trainer_state.json"]
    if rng.random() < 0.5:
        events.append(output_dir / f"checkpoint-{target + 4}")
    deadline = time.time() + 600  # a guard against a hung run, not a speed requirement
    for event in events:
        while not event.exists():
            assert process.poll() is None and time.time() < deadline, "the run ended before the event it was to be killed at"
            time.sleep(0.005)
    process.send_signal(stop)
    process.wait()


def assert_same_run(expected_dir, resumed_dir, weights="model.safetensors"):
    """Bitwise-equal final weights (or adapter weights) and equal final metrics."""
    expected, resumed = load_file(str(expected_dir / weights)), load_file(str(resumed_dir / weights))
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert expected[name].equal(resumed[name]), name
    before = json.loads((expected_dir / "all_results.json").read_text())
    after = json.loads((resumed_dir / "all_results.json").read_text())
    for key in ("eval_loss", "eval_accuracy", "eval_perplexity"):
        assert after.get(key) == before.get(key), key


def _run(command):
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def uninterrupted(tiny_distilbert, sentiment_files, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("faults") / "uninterrupted"
    _run(_command(tiny_distilbert, sentiment_files, output_dir))
    return output_dir


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_a_run_killed_at_a_random_moment_resumes_to_the_same_weights(seed, uninterrupted, tiny_distilbert, sentiment_files, tmp_path):
    output_dir = tmp_path / "killed"
    command = _command(tiny_distilbert, sentiment_files, output_dir)
    _kill_at_random(command, output_dir, seed)
    result = _run(command)  # the same command again
    assert "resuming from" in result.stderr
    assert_same_run(uninterrupted, output_dir)


@pytest.mark.slow
def test_a_causal_lm_killed_and_resumed_explicitly_ends_the_same(tiny_gpt2, tmp_path):
    from helpers import LM_CORPUS

    (tmp_path / "train.txt").write_text("\n".join(LM_CORPUS) + "\n")
    (tmp_path / "validation.txt").write_text("\n".join(LM_CORPUS[:8]) + "\n")
    files = {"train": str(tmp_path / "train.txt"), "validation": str(tmp_path / "validation.txt")}
    flags = ["--block_size", "16", "--per_device_train_batch_size", "4"]
    _run(_command(tiny_gpt2, files, tmp_path / "whole", "finetune_lm.py", max_steps=160) + flags)
    command = _command(tiny_gpt2, files, tmp_path / "killed", "finetune_lm.py", max_steps=160) + flags
    _kill_at_random(command, tmp_path / "killed", seed=3)
    checkpoint = last_complete_checkpoint(tmp_path / "killed")
    _run(command + ["--resume_from_checkpoint", str(checkpoint)])
    assert_same_run(tmp_path / "whole", tmp_path / "killed")


@pytest.mark.slow
def test_a_lora_run_killed_at_a_random_moment_resumes_to_the_same_adapter(tiny_gpt2, tmp_path):
    from helpers import LM_CORPUS

    (tmp_path / "train.txt").write_text("\n".join(LM_CORPUS) + "\n")
    (tmp_path / "validation.txt").write_text("\n".join(LM_CORPUS[:8]) + "\n")
    files = {"train": str(tmp_path / "train.txt"), "validation": str(tmp_path / "validation.txt")}
    flags = ["--block_size", "16", "--per_device_train_batch_size", "4", "--use_peft", "--lora_r", "4", "--packing"]
    _run(_command(tiny_gpt2, files, tmp_path / "whole", "finetune_lm.py", max_steps=120) + flags)
    command = _command(tiny_gpt2, files, tmp_path / "killed", "finetune_lm.py", max_steps=120) + flags
    _kill_at_random(command, tmp_path / "killed", seed=4)
    result = _run(command)  # the same command again
    assert "resuming from" in result.stderr
    assert not (tmp_path / "killed" / "model.safetensors").exists()
    assert_same_run(tmp_path / "whole", tmp_path / "killed", weights="adapter_model.safetensors")


def test_a_half_written_checkpoint_is_ignored_and_never_loaded(uninterrupted, tmp_path):
    import shutil

    output_dir = tmp_path / "run"
    for step in (4, 8):
        shutil.copytree(uninterrupted / f"checkpoint-{step}" if (uninterrupted / f"checkpoint-{step}").exists()
                        else _any_checkpoint(uninterrupted), output_dir / f"checkpoint-{step}")
    weights = output_dir / "checkpoint-8" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # killed while writing the weights
    assert "truncated" in checkpoint_problem(output_dir / "checkpoint-8")
    assert last_complete_checkpoint(output_dir) == output_dir / "checkpoint-4"
    assert not (output_dir / "checkpoint-8").exists()
    (output_dir / "checkpoint-4" / "trainer_state.json").unlink()  # killed before the state was written
    assert resume_point(output_dir, None, overwrite=False, do_train=True) is None
    assert not any(output_dir.iterdir())  # nothing half-written is left to block a fresh start


def test_resuming_from_an_incomplete_checkpoint_is_refused(tmp_path):
    from finetune_toolkit.core.errors import UserError

    (tmp_path / "checkpoint-3").mkdir()
    with pytest.raises(UserError, match="no readable trainer_state.json"):
        resume_point(tmp_path, str(tmp_path / "checkpoint-3"), overwrite=False, do_train=True)


def _any_checkpoint(directory: Path) -> Path:
    return sorted(directory.glob("checkpoint-*"))[-1]


def test_ctrl_c_says_where_the_last_checkpoint_is_and_how_to_resume(tiny_distilbert, sentiment_files, tmp_path):
    output_dir = tmp_path / "interrupted"
    command = _command(tiny_distilbert, sentiment_files, output_dir, max_steps=10**7)  # cannot finish before the Ctrl-C
    # A shell running tests in the background ignores SIGINT for its children; give this one a normal Ctrl-C.
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 600  # a guard against a hung run, not a speed requirement
    while not (output_dir / "checkpoint-8" / "trainer_state.json").exists():
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == 130
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: stopped by Ctrl-C; the last checkpoint is ") and "run the same command again" in last
    assert "Traceback" not in stderr


def _sweep_command(model, files, output_dir):
    return [sys.executable, str(ROOT / "scripts" / "fewshot.py"), "--model_name_or_path", model, "--train_file", files["train"],
            "--validation_file", files["train"], "--shots", "0", "1", "2", "4", "8", "--seeds", "0", "1", "2", "3", "--calibrate",
            "--output_dir", str(output_dir)]


def _table(output_dir):
    rows = json.loads((output_dir / "results.json").read_text())
    return [{k: v for k, v in row.items() if k not in ("seconds", "examples_per_second")} for row in rows]


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_a_killed_sweep_finishes_only_the_remaining_runs_with_the_same_table(seed, fewshot_gpt2, fewshot_files, tmp_path):
    _run(_sweep_command(fewshot_gpt2, fewshot_files, tmp_path / "whole"))
    output_dir = tmp_path / "killed"
    process = subprocess.Popen(_sweep_command(fewshot_gpt2, fewshot_files, output_dir), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wanted = random.Random(seed).randint(2, 12)  # the kill lands after this many finished runs (of 17 records)
    deadline = time.time() + 600  # a guard against a hung sweep, not a speed requirement
    while len(list((output_dir / "runs").glob("*.json"))) < wanted:
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list((output_dir / "runs").glob("*.json")))
    assert wanted <= finished < 17
    json.loads((output_dir / "results.json").read_text())  # written after the first run; whatever the kill cut, it parses
    result = _run(_sweep_command(fewshot_gpt2, fewshot_files, output_dir))
    assert "resuming:" in result.stderr
    assert _table(output_dir) == _table(tmp_path / "whole")


def test_a_full_disk_gives_one_clear_error_and_keeps_the_previous_results(tmp_path, monkeypatch):
    import errno

    from finetune_toolkit.core.errors import UserError
    from finetune_toolkit.core.outputs import atomic_write_json

    path = atomic_write_json(tmp_path / "results.json", {"accuracy": 0.9})

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.replace", full_disk)
    with pytest.raises(UserError, match=r"cannot write .*results.json' \(No space left on device\); free disk space"):
        atomic_write_json(path, {"accuracy": 0.1})
    assert json.loads(path.read_text()) == {"accuracy": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left behind


def test_scripts_turn_a_full_disk_inside_the_trainer_into_one_line(tmp_path):
    script = ("import errno, sys; sys.argv=['x']; from finetune_toolkit.core.command_line import run_script\n"
              "def main(): raise OSError(errno.ENOSPC, 'No space left on device', '/out/model.safetensors')\n"
              "run_script(main)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("error: cannot write '/out/model.safetensors' (No space left on device); free disk space "
                                     "or fix the permissions, or choose another --output_dir")


def test_trust_remote_code_is_off_by_default_and_warns_naming_the_repository(tiny_gpt2, caplog):
    import logging

    from finetune_toolkit.core.models import ModelArguments, pretrained_kwargs

    assert pretrained_kwargs(ModelArguments(tiny_gpt2), tiny_gpt2)["trust_remote_code"] is False
    with caplog.at_level(logging.WARNING):
        assert pretrained_kwargs(ModelArguments(tiny_gpt2, trust_remote_code=True), "someone/custom-model")["trust_remote_code"]
    assert "trust_remote_code=True: code from 'someone/custom-model' will run on this machine" in caplog.text


@pytest.mark.parametrize("model, template", [("../../etc/passwd", "../../t.yaml"), ("/abs/../model", "a/../../b")])
def test_sweep_file_names_cannot_leave_the_output_directory(model, template):
    from prompts.sweep import Run

    key = Run(model, template, "random", 4, 0).key
    assert "/" not in key and "\\" not in key and not key.startswith(".")


def test_atomic_writes_leave_files_readable_like_any_other(tmp_path):
    from finetune_toolkit.core.outputs import atomic_write_json

    mask = os.umask(0o022)
    try:
        path = atomic_write_json(tmp_path / "results.json", {"accuracy": 0.9})
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
