"""The installed command: `finetune-toolkit SUBCOMMAND` (and `python -m finetune_toolkit`) runs the same functions
with the same flags as `scripts/`; `env`; reporters; progress lines in log files; a wheel that works outside the clone."""

import io
import os
import subprocess
import sys
import zipfile

import pytest

from finetune_toolkit.cli import COMMANDS
from toolkit.errors import UserError
from toolkit.progress import LogLines

from helpers import ROOT, fast_training_flags, load_script


def run_module(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "finetune_toolkit", *args], capture_output=True, text=True, cwd=cwd,
                          env=env or {**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)


def test_help_lists_every_subcommand_with_its_purpose_and_version_prints_it():
    result = run_module("--help")
    assert result.returncode == 0
    for name, (_, _, purpose) in COMMANDS.items():
        assert f"  {name}" in result.stdout and purpose in result.stdout
    version = run_module("--version")
    assert version.returncode == 0 and version.stdout.strip() == "finetune-toolkit 0.1.0"


def test_each_subcommand_is_its_scripts_main_function():
    import importlib

    for name, (module, script, _) in COMMANDS.items():
        command = importlib.import_module(f"finetune_toolkit.commands.{module}")
        if script is not None:  # one parser, not two: the script runs the very same function
            assert load_script(script[: -len(".py")]).main is command.main, name


def test_a_subcommands_help_lists_its_flags_under_its_own_name():
    result = run_module("classify", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: finetune-toolkit classify")
    for flag in ("--model_name_or_path", "--train_file", "--use_peft", "--learning_rate", "--overwrite_output_dir"):
        assert flag in result.stdout


def test_unknown_subcommands_and_bad_flags_get_one_line_and_exit_2(tmp_path):
    result = run_module("clasify")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: unknown subcommand 'clasify'; did you mean 'classify'? run finetune-toolkit --help to list them"]
    result = run_module("scaling", "--output_dir", str(tmp_path / "ladder"), "--sizes", "2x32", "1x16")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: the ladder must grow") and not (tmp_path / "ladder").exists()


def test_env_reports_versions_device_and_packaged_models():
    result = run_module("env")
    assert result.returncode == 0
    import torch
    import transformers

    for text in ("python", "torch  ", torch.__version__, transformers.__version__, "accelerate", "datasets", "evaluate",
                 "peft", "device (Accelerate)", "cpu", "packaged:all-MiniLM-L6-v2", "packaged:SmolLM2-135M-Instruct",
                 "toolkit cache", "CPU threads (torch)"):
        assert text in result.stdout, text


def test_report_to_tensorboard_writes_event_files(tiny_distilbert, sentiment_files, tmp_path):
    pytest.importorskip("tensorboard")
    flags = fast_training_flags(tmp_path / "run")
    flags[flags.index("--report_to") + 1] = "tensorboard"
    load_script("finetune_classifier").main(["--model_name_or_path", tiny_distilbert, "--train_file", sentiment_files["train"],
                                             "--do_train", "--max_steps", "3", "--logging_steps", "1", *flags])
    assert list((tmp_path / "run").rglob("events.out.tfevents.*"))


def test_a_reporter_that_is_not_installed_is_refused_before_anything_is_written(tiny_distilbert, sentiment_files, tmp_path, monkeypatch):
    from transformers.integrations import integration_utils

    monkeypatch.setattr(integration_utils, "is_tensorboard_available", lambda: False)
    flags = fast_training_flags(tmp_path / "run")
    flags[flags.index("--report_to") + 1] = "tensorboard"
    with pytest.raises(UserError, match=r"--report_to tensorboard needs the tensorboard package, which is not installed; "
                                        r"pip install 'finetune-toolkit\[tensorboard\]'"):
        load_script("finetune_classifier").main(["--model_name_or_path", tiny_distilbert, "--train_file", sentiment_files["train"],
                                                 "--do_train", *flags])
    assert not (tmp_path / "run").exists()


def test_log_lines_print_every_tenth_of_the_work_and_every_minute(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("toolkit.progress.time.monotonic", lambda: clock[0])
    stream = io.StringIO()
    lines = LogLines(200, "scoring", "prompt", stream=stream)
    for _ in range(200):
        clock[0] += 0.1
        lines.update(1)
    lines.close()
    printed = stream.getvalue().splitlines()
    assert len(printed) == 10  # at 20, 40, ..., 200 prompts; close() adds nothing new
    assert printed[0] == "scoring: 20/200 prompt (10%), 10 prompt/s, about 0m18s left, 0m02s so far"
    assert printed[-1].startswith("scoring: 200/200 prompt (100%), 10 prompt/s, took 0m20s")
    stream = io.StringIO()
    slow = LogLines(1000, "generating", "prompt", stream=stream)
    for _ in range(3):
        clock[0] += 61  # a minute per prompt: one line each, long before 10%
        slow.update(1)
    assert len(stream.getvalue().splitlines()) == 3


def test_training_in_a_log_file_prints_progress_lines_with_the_loss(tiny_distilbert, sentiment_files, tmp_path, capsys):
    flags = fast_training_flags(tmp_path / "run")
    load_script("finetune_classifier").main(["--model_name_or_path", tiny_distilbert, "--train_file", sentiment_files["train"],
                                             "--do_train", "--max_steps", "20", "--logging_steps", "5", "--print_metrics", "false", *flags])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("training: ")]
    assert [line.split(",")[0] for line in lines] == [f"training: {step}/20 steps ({step * 5}%)" for step in range(2, 21, 2)]
    assert "loss " in lines[-1] and "steps/s" in lines[-1]


@pytest.mark.slow
def test_the_wheel_works_outside_the_clone(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path, timeout=600)
    (wheel,) = wheels.glob("finetune_toolkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "finetune/resources/movie_reviews_train.jsonl" in names
    assert "toolkit/metric_modules/classification/classification.py" in names
    assert any(name.endswith("entry_points.txt") for name in names)
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    # The project's dependencies come from this environment; the project itself only from the installed wheel.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(target / "bin" / "finetune-toolkit")]
    where = subprocess.run([sys.executable, "-c", "import toolkit, finetune_toolkit, finetune.data as d; "
                            "print(toolkit.__file__); print(d.movie_review_files()['train'])"],
                           capture_output=True, text=True, cwd=elsewhere, env=env, check=True)
    assert all(line.startswith(str(target)) for line in where.stdout.splitlines())
    assert subprocess.run([*command, "--help"], capture_output=True, text=True, cwd=elsewhere, env=env).returncode == 0
    assert "finetune-toolkit" in subprocess.run([*command, "env"], capture_output=True, text=True, cwd=elsewhere, env=env).stdout
    result = subprocess.run([*command, "scaling", "--output_dir", "ladder", "--sizes", "1x8", "1x16", "--digits", "1",
                             "--context_length", "6", "--head_width", "8", "--max_steps", "3", "--heldout_problems", "10"],
                            capture_output=True, text=True, cwd=elsewhere, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (elsewhere / "ladder" / "scaling.json").is_file() and (elsewhere / "ladder" / "scaling.png").is_file()
