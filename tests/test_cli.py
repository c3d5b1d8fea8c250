"""The installed command: `finetune-toolkit SUBCOMMAND` (and `python -m finetune_toolkit`) runs the same functions
with the same flags as `scripts/`; `env`; reporters; progress lines in log files; a wheel that works outside the clone."""

import io
import os
import subprocess
import sys
import zipfile

import pytest

from finetune_toolkit.cli import COMMANDS
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.progress import LogLines

from helpers import ROOT, fast_training_flags, load_script


def run_module(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "finetune_toolkit", *args], capture_output=True, text=True, cwd=cwd,
                          env=env or {**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)


SUBCOMMANDS = ["classify", "lm", "generate", "fewshot", "eval", "compare", "emergence", "scaling", "reproduce", "report", "demo", "env"]


def test_help_lists_every_subcommand_with_its_purpose_and_version_prints_it():
    result = run_module("--help")
    assert result.returncode == 0
    listed = result.stdout.split("subcommands:\n")[1].split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in listed] == SUBCOMMANDS
    assert all(len(line.split(None, 1)[1]) > 20 for line in listed)  # each with a purpose, not just its name
    import contextlib
    import importlib

    for name in SUBCOMMANDS:  # and each listed name is a command whose parser answers --help
        printed, code = io.StringIO(), 0
        with contextlib.redirect_stdout(printed):
            try:
                importlib.import_module(f"finetune_toolkit.commands.{COMMANDS[name][0]}").main(["--help"])
            except SystemExit as done:  # argparse exits after printing the help
                code = done.code
        assert code == 0 and printed.getvalue().strip(), name
    version = run_module("--version")
    assert version.returncode == 0 and version.stdout.strip() == "finetune-toolkit 0.1.0"


def test_each_subcommand_is_its_scripts_main_function():
    import importlib

    for name, (module, script, _) in COMMANDS.items():
        command = importlib.import_module(f"finetune_toolkit.commands.{module}")
        if script is not None:  # one parser, not two: the script runs the very same function
            assert load_script(script[: -len(".py")]).main is command.main, name


def test_no_script_shadows_an_importable_module():
    # `python scripts/NAME.py` puts scripts/ first on sys.path, so a script named like a library (evaluate.py)
    # would be imported in its place by everything the script runs.
    import importlib.util

    for script in sorted((ROOT / "scripts").glob("*.py")):
        name = script.stem
        shadowed = name in sys.stdlib_module_names or importlib.util.find_spec(name) is not None
        assert not shadowed, f"scripts/{script.name} shadows the module {name!r}; rename the script"


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


def run_log_lines(monkeypatch, total: int, seconds_each: float, stop_at: int | None = None) -> list[str]:
    """The lines `LogLines` prints for `total` items taking `seconds_each` on a fake clock (binary fractions: exact)."""
    clock = [0.0]
    monkeypatch.setattr("finetune_toolkit.core.progress.time.monotonic", lambda: clock[0])
    stream = io.StringIO()
    lines = LogLines(total, "scoring", "prompt", stream=stream)
    for _ in range(total if stop_at is None else stop_at):
        clock[0] += seconds_each
        lines.update(1)
    lines.close()
    return stream.getvalue().splitlines()


def test_log_lines_print_every_tenth_of_long_work(monkeypatch):
    printed = run_log_lines(monkeypatch, 200, 0.25)  # 50 s: a tenth every 5 s
    assert len(printed) == 10  # at 20, 40, ..., 200 prompts; close() adds nothing new
    assert printed[0] == "scoring: 20/200 prompt (10%), 4 prompt/s, about 0m45s left, 0m05s so far"
    assert printed[-1] == "scoring: 200/200 prompt (100%), 4 prompt/s, took 0m50s"


def test_log_lines_print_one_line_for_short_work(monkeypatch):
    assert run_log_lines(monkeypatch, 200, 1 / 64) == ["scoring: 200/200 prompt (100%), 64 prompt/s, took 0m03s"]


def test_log_lines_wait_some_seconds_between_tenths(monkeypatch):
    printed = run_log_lines(monkeypatch, 200, 1 / 16)  # 12.5 s: a tenth every 1.25 s, a line at most every 5 s
    assert [line.split(",")[0] for line in printed] == ["scoring: 80/200 prompt (40%)", "scoring: 160/200 prompt (80%)",
                                                        "scoring: 200/200 prompt (100%)"]


def test_log_lines_print_every_minute_of_slow_work_and_always_a_final_line(monkeypatch):
    printed = run_log_lines(monkeypatch, 1000, 61, stop_at=3)  # a minute per prompt: one line each, long before 10%
    assert [line.split(",")[0] for line in printed] == ["scoring: 1/1000 prompt (0%)", "scoring: 2/1000 prompt (0%)",
                                                        "scoring: 3/1000 prompt (0%)", "scoring: 3/1000 prompt (0%)"]
    assert printed[-1].endswith("took 3m03s") and "so far" in printed[-2]


def test_training_in_a_log_file_prints_progress_lines_with_the_loss(tiny_distilbert, sentiment_files, tmp_path, capsys):
    flags = fast_training_flags(tmp_path / "run")
    load_script("finetune_classifier").main(["--model_name_or_path", tiny_distilbert, "--train_file", sentiment_files["train"],
                                             "--do_train", "--max_steps", "20", "--logging_steps", "5", "--print_metrics", "false", *flags])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("training: ")]
    # 20 tiny steps take a second or two: one line, the final one, with the last logged loss
    assert len(lines) == 1 and lines[0].startswith("training: 20/20 steps (100%), loss ")
    assert "steps/s" in lines[0] and ", took " in lines[0]


@pytest.mark.slow
def test_the_wheel_works_outside_the_clone(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path, timeout=600)
    (wheel,) = wheels.glob("finetune_toolkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if ".dist-info" not in name.split("/")[0]}
    assert top_level == {"finetune", "prompts", "finetune_toolkit"}
    (record,) = [name for name in names if name.endswith(".dist-info/top_level.txt")] or [None]
    if record:
        assert set(zipfile.ZipFile(wheel).read(record).decode().split()) == top_level
    assert "finetune/resources/movie_reviews_train.jsonl" in names
    assert "finetune_toolkit/core/metric_modules/classification/classification.py" in names
    assert any(name.endswith("entry_points.txt") for name in names)
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    # The project's dependencies come from this environment; the project itself only from the installed wheel.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(target / "bin" / "finetune-toolkit")]
    where = subprocess.run([sys.executable, "-c", "import finetune_toolkit.core, finetune.data as d; "
                            "print(finetune_toolkit.core.__file__); print(d.movie_review_files()['train'])"],
                           capture_output=True, text=True, cwd=elsewhere, env=env, check=True)
    assert all(line.startswith(str(target)) for line in where.stdout.splitlines())
    assert subprocess.run([*command, "--help"], capture_output=True, text=True, cwd=elsewhere, env=env).returncode == 0
    assert "finetune-toolkit" in subprocess.run([*command, "env"], capture_output=True, text=True, cwd=elsewhere, env=env).stdout
    result = subprocess.run([*command, "scaling", "--output_dir", "ladder", "--sizes", "1x8", "1x16", "--digits", "1",
                             "--context_length", "6", "--head_width", "8", "--max_steps", "3", "--heldout_problems", "10"],
                            capture_output=True, text=True, cwd=elsewhere, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (elsewhere / "ladder" / "scaling.json").is_file() and (elsewhere / "ladder" / "scaling.png").is_file()
