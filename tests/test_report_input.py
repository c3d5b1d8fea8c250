"""The report page's data without a browser: what it reads from a sweep, hand-computed diffs and F1, script-safe
JSON, and every kind of bad folder refused in one line with exit status 2 and nothing written."""

import json
import shutil

import pytest

from finetune_toolkit.cli import main as cli
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.report import load_report, write_report
from finetune_toolkit.report.examples import answer_diff, token_f1
from finetune_toolkit.report.page import script_json

from helpers import load_script

fewshot = load_script("fewshot")


@pytest.fixture(scope="module")
def sweep(fewshot_gpt2, fewshot_files, tmp_path_factory):
    output = tmp_path_factory.mktemp("sweep") / "run"
    fewshot.main(["--model_name_or_path", fewshot_gpt2, "--train_file", fewshot_files["train"], "--validation_file",
                  fewshot_files["validation"], "--shots", "0", "1", "--seeds", "0", "--max_eval_samples", "6",
                  "--output_dir", str(output), "--no_report"])
    return output


def copy_of(sweep, tmp_path):
    folder = shutil.copytree(sweep, tmp_path / "copy")
    (folder / "report.html").unlink(missing_ok=True)
    return folder


def refused(folder, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli(["report", str(folder)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (folder / "report.html").exists() if folder.is_dir() else True
    return err


def test_no_report_writes_none_and_the_command_writes_one_that_reads_every_example(sweep, capsys):
    assert not (sweep / "report.html").exists()
    cli(["report", str(sweep)])
    assert "report:" in capsys.readouterr().out
    html = (sweep / "report.html").read_text()
    assert html.startswith("<!doctype html>") and 'content="default-src \'none\'' in html
    report = load_report(sweep)
    assert [run["examples"] for run in report.runs] == [6, 6]
    one_shot = [json.loads(line) for line in next((sweep / "predictions").glob("*1shot*.jsonl")).read_text().splitlines()]
    rows = [row for row in report.rows if row["r"] == 1]
    assert [report.contexts.texts[row["c"]] + row["q"] for row in rows] == [row["prompt"] for row in one_shot]
    assert [[option[1] for option in row["o"]] for row in rows] == [row["label_log_probs"] for row in one_shot]
    for row, original in zip(rows, one_shot):
        start, end, kind = row["sp"][0]
        assert kind == "demonstration" and original["prompt"][end:] == row["q"], "the query follows its one demonstration"


def test_answer_differences_and_token_f1_by_hand():
    assert answer_diff("the cat sat", "the dog sat") == [["=", "the "], ["-", "cat"], ["+", "dog"], ["=", " sat"]]
    assert answer_diff("42", "42") == [["=", "42"]]
    # answer "the big cat", reference "a cat": articles dropped -> {big, cat} vs {cat}; P 1/2, R 1, F1 2/3
    assert token_f1("the big cat", "a cat") == pytest.approx(2 / 3)
    assert token_f1("dog", "cat") == 0.0


def test_page_data_cannot_end_its_script_element():
    text = script_json({"q": "</script><!-- \u2028 & >"})
    assert "<" not in text and ">" not in text and "\u2028" not in text and "&" not in text
    assert json.loads(text) == {"q": "</script><!-- \u2028 & >"}


def test_a_missing_or_empty_folder_is_refused(tmp_path, capsys):
    assert "is not a folder" in refused(tmp_path / "nowhere", capsys)
    (tmp_path / "empty").mkdir()
    assert "holds no results of a finetune-toolkit command" in refused(tmp_path / "empty", capsys)


def test_a_predictions_file_cut_mid_line_is_refused(sweep, tmp_path, capsys):
    folder = copy_of(sweep, tmp_path)
    path = next((folder / "predictions").glob("*1shot*.jsonl"))
    text = path.read_text()
    path.write_text(text[: len(text) - 40])
    assert f"{path} line 6 is cut off or not a JSON object" in refused(folder, capsys)


def test_a_predictions_file_with_fewer_examples_than_its_run_is_refused(sweep, tmp_path, capsys):
    folder = copy_of(sweep, tmp_path)
    path = next((folder / "predictions").glob("*1shot*.jsonl"))
    path.write_text("".join(path.read_text().splitlines(True)[:4]))
    assert "holds 4 examples, its run evaluated 6: the file is incomplete" in refused(folder, capsys)


def test_a_sweep_stopped_midway_is_refused_with_the_runs_it_misses(fewshot_gpt2, fewshot_files, tmp_path, monkeypatch, capsys):
    import prompts.sweep

    run_one, calls = prompts.sweep._run_one, []

    def killed_at_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return run_one(*args, **kwargs)

    monkeypatch.setattr(prompts.sweep, "_run_one", killed_at_the_second)
    output = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fewshot.main(["--model_name_or_path", fewshot_gpt2, "--train_file", fewshot_files["train"], "--validation_file",
                      fewshot_files["validation"], "--shots", "0", "1", "2", "--seeds", "0", "--max_eval_samples", "4",
                      "--output_dir", str(output)])
    capsys.readouterr()
    error = refused(output, capsys)
    assert "`fewshot` is still running or was stopped before its end (1 of 3 runs finished; missing: " in error
    assert "1shot" in error and "2shot" in error and "run the same command again to finish it" in error


def test_a_report_html_the_toolkit_did_not_write_is_never_replaced(sweep, tmp_path):
    folder = copy_of(sweep, tmp_path)
    (folder / "report.html").write_text("<html>my own notes</html>")
    with pytest.raises(UserError, match="exists and was not written by finetune-toolkit"):
        write_report(folder)
    assert (folder / "report.html").read_text() == "<html>my own notes</html>"
