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

from conftest import ROOT


def _command(model, files, output_dir):
    return [sys.executable, str(ROOT / "scripts" / "finetune_classifier.py"), "--model_name_or_path", model,
            "--train_file", files["train"], "--validation_file", files["validation"], "--do_train", "--do_eval",
            "--output_dir", str(output_dir), "--max_steps", "24", "--save_steps", "4", "--learning_rate", "3e-3",
            "--per_device_train_batch_size", "16", "--report_to", "none", "--disable_tqdm", "true", "--seed", "0",
            "--logging_steps", "100"]


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


@pytest.mark.parametrize("seed", [0, 1])
def test_a_run_killed_at_a_random_moment_resumes_to_the_same_weights(seed, uninterrupted, tiny_distilbert, sentiment_files, tmp_path):
    output_dir = tmp_path / "killed"
    command = _command(tiny_distilbert, sentiment_files, output_dir)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    # Wait for a random checkpoint to appear, then kill at a random moment after it (possibly mid-save).
    target = random.Random(seed).choice([4, 8, 12, 16])
    deadline = time.time() + 300
    while not (output_dir / f"checkpoint-{target}" / "trainer_state.json").exists() and process.poll() is None:
        assert time.time() < deadline
        time.sleep(0.02)
    time.sleep(random.Random(seed).uniform(0, 0.5))
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (output_dir / "all_results.json").exists(), "the kill came too late to test anything"

    result = _run(command)  # the same command again
    assert "resuming from" in result.stderr
    expected, resumed = load_file(str(uninterrupted / "model.safetensors")), load_file(str(output_dir / "model.safetensors"))
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert expected[name].equal(resumed[name]), name  # bitwise
    before = json.loads((uninterrupted / "all_results.json").read_text())
    after = json.loads((output_dir / "all_results.json").read_text())
    assert after["eval_accuracy"] == before["eval_accuracy"] and after["eval_loss"] == before["eval_loss"]


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
    from finetune.errors import UserError

    (tmp_path / "checkpoint-3").mkdir()
    with pytest.raises(UserError, match="no readable trainer_state.json"):
        resume_point(tmp_path, str(tmp_path / "checkpoint-3"), overwrite=False, do_train=True)


def _any_checkpoint(directory: Path) -> Path:
    return sorted(directory.glob("checkpoint-*"))[-1]


def test_ctrl_c_says_where_the_last_checkpoint_is_and_how_to_resume(tiny_distilbert, sentiment_files, tmp_path):
    output_dir = tmp_path / "interrupted"
    command = _command(tiny_distilbert, sentiment_files, output_dir)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 300
    while not (output_dir / "checkpoint-8" / "trainer_state.json").exists() and process.poll() is None:
        assert time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == 130
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: stopped by Ctrl-C; the last checkpoint is ") and "run the same command again" in last
    assert "Traceback" not in stderr
