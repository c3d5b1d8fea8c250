"""`finetune-toolkit eval`: lm-eval's results files, a table and plots, resume, and bad input as one line (skipped
without lm-eval)."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install -e .[lm-eval])")

from finetune_toolkit.commands.eval import main  # noqa: E402
from finetune_toolkit.core.errors import UserError  # noqa: E402
from finetune_toolkit.evaluation import harness  # noqa: E402
from finetune_toolkit.report import load_report, write_report  # noqa: E402

from lm_eval_tasks import write_tasks  # noqa: E402


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    return str(write_tasks(tmp_path_factory.mktemp("tasks")))


def _argv(models, tasks, output, *extra):
    return ["--model_name_or_path", *models, "--tasks", "toolkit_mc,toolkit_gen", "--include_path", tasks,
            "--num_fewshot", "1", "--limit", "4", "--log_samples", "--output_path", str(output), *extra]


def test_two_models_write_lm_evals_files_a_table_a_plot_and_resume_after_a_kill(tiny_gpt2, fewshot_gpt2, tasks, tmp_path,
                                                                                 monkeypatch, capsys):
    output = tmp_path / "eval"
    evaluate, calls = harness._evaluate, []

    def killed_at_the_third(*args, **kwargs):
        calls.append(args[1:3])
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(harness, "_evaluate", killed_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        main(_argv([tiny_gpt2, fewshot_gpt2], tasks, output))
    assert calls == [(tiny_gpt2, "toolkit_mc"), (tiny_gpt2, "toolkit_gen"), (fewshot_gpt2, "toolkit_mc")]
    assert not (output / "results.md").exists()
    with pytest.raises(UserError, match=r"`eval` is still running or was stopped .*\(2 of 4 runs finished; missing: "):
        write_report(output)  # a page made now would show partial results as whole

    calls.clear()
    rows = main(_argv([tiny_gpt2, fewshot_gpt2], tasks, output))
    assert calls == [(fewshot_gpt2, "toolkit_mc"), (fewshot_gpt2, "toolkit_gen")], "only what the kill left is done"

    assert [row["model"] for row in rows] == [tiny_gpt2, fewshot_gpt2]
    assert rows[0]["parameters"] != rows[1]["parameters"]
    for row, model in zip(rows, (tiny_gpt2, fewshot_gpt2)):
        # Each table value is the mean of the per-document scores lm-eval logged, recomputed here from the samples.
        for task, metric, column in (("toolkit_mc", "acc", "toolkit_mc acc"), ("toolkit_mc", "acc_norm", "toolkit_mc acc_norm"),
                                     ("toolkit_gen", "exact_match", "toolkit_gen exact_match (strip)")):
            samples = [json.loads(line) for path in (output / harness.sanitized(model)).glob(f"samples_{task}_*.jsonl")
                       for line in path.open()]
            assert len(samples) == 4
            assert row[column] == pytest.approx(sum(sample[metric] for sample in samples) / 4)
    table = capsys.readouterr().out
    assert "| model | parameters | toolkit_mc acc | toolkit_mc acc_norm | toolkit_gen exact_match (strip) |" in table
    assert table.strip().endswith((output / "results.md").read_text().strip())
    assert "±" in table, "lm-eval's own table, with its standard errors (±), is printed after each run"
    assert json.loads((output / "results.json").read_text()) == rows
    assert (output / "toolkit_mc_vs_parameters.png").stat().st_size > 1000
    for model in (tiny_gpt2, fewshot_gpt2):
        folder = output / harness.sanitized(model)
        results = [json.loads(path.read_text()) for path in folder.glob("results_*.json")]
        assert sorted(task for result in results for task in result["results"]) == ["toolkit_gen", "toolkit_mc"]
        assert all(result["n-shot"] == {task: 1 for task in result["results"]} for result in results)
        samples = [json.loads(line) for path in folder.glob("samples_toolkit_mc_*.jsonl") for line in path.open()]
        assert len(samples) == 4 and all(len(sample["resps"]) == 4 for sample in samples)  # four options each
    assert not list(output.glob(".eval-*")), "no staging folder is left behind"
    # The report page: every logged sample of every (model, task), lm-eval's verdict on each.
    assert (output / "report.html").is_file()
    report = load_report(output)
    assert [run["examples"] for run in report.runs] == [4, 4, 4, 4]
    for run_id, run in enumerate(report.runs):
        model, task = run["name"].split(" · ")
        samples = [json.loads(line) for path in (output / harness.sanitized(model)).glob(f"samples_{task}_*.jsonl") for line in path.open()]
        page_rows = [row for row in report.rows if row["r"] == run_id]
        metric = "acc" if task == "toolkit_mc" else "exact_match"
        assert [row["ok"] for row in page_rows] == [int(sample[metric]) for sample in samples]
        prompts = [report.contexts.texts[row["c"]] + row["q"] for row in page_rows]
        assert prompts == [sample["arguments"]["gen_args_0"]["arg_0"] for sample in samples]

    calls.clear()
    assert main(_argv([tiny_gpt2, fewshot_gpt2], tasks, output)) == rows
    assert calls == [], "a finished run is read back, not evaluated again"

    with pytest.raises(UserError, match="holds results of a different evaluation; pass --overwrite_output_dir"):
        main(_argv([tiny_gpt2], tasks, output))
    main(_argv([tiny_gpt2], tasks, output, "--overwrite_output_dir"))
    assert not (output / harness.sanitized(fewshot_gpt2)).exists(), "an overwritten run's files are removed"
    assert len(list((output / harness.sanitized(tiny_gpt2)).glob("results_*.json"))) == 2
    assert not (output / "toolkit_mc_vs_parameters.png").exists()


def test_without_an_output_path_only_the_table_is_printed(tiny_gpt2, tasks, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [flag for flag in _argv([tiny_gpt2], tasks, "x")[:-2] if flag != "--log_samples"]
    rows = main(argv)
    assert len(rows) == 1 and "toolkit_mc acc" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flags, message", [
    (["--num_fewshot", "-1"], "--num_fewshot must be 0 or more, got -1"),
    (["--include_path", "no/such/folder"], "--include_path 'no/such/folder' is not a folder"),
    (["--limit", "0"], "--limit must be above 0"),
    (["--batch_size", "big"], "--batch_size must be a positive number, auto or auto:N"),
    (["--model", "vllm"], "--model 'vllm' is not served here"),
    (["--trust_remote_code"], "--trust_remote_code is refused"),
    (["--fewshot_as_multiturn", "maybe"], "--fewshot_as_multiturn takes true or false"),
    (["--cache_requests", "sometimes"], "--cache_requests takes true, refresh or delete"),
    (["--limit", "3", "--samples", '{"toolkit_mc": [0]}'], "give --samples or --limit, not both"),
])
def test_bad_flags_are_refused_before_anything_loads(flags, message, tmp_path):
    with pytest.raises(UserError, match=message.replace("-", r"\-").replace(".", r"\.")):
        main(["--model_name_or_path", "no/such/model", "--tasks", "toolkit_mc", "--output_path", str(tmp_path / "o"), *flags])
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag", ["--log_samples", "--predict_only"])
def test_samples_without_an_output_path_are_refused_as_lm_eval_refuses_them(flag):
    with pytest.raises(UserError, match="--log_samples and --predict_only need --output_path"):
        main(["--model_name_or_path", "no/such/model", "--tasks", "toolkit_mc", flag])


def test_a_task_whose_data_file_is_missing_or_whose_hub_dataset_is_unreachable(tasks, tmp_path):
    (tmp_path / "missing.yaml").write_text(
        "task: toolkit_missing\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    validation: "
        f"{tmp_path / 'nothing.jsonl'}\nvalidation_split: validation\noutput_type: multiple_choice\n"
        "doc_to_text: '{{word}}'\ndoc_to_choice: '{{choices}}'\ndoc_to_target: label\n")
    (tmp_path / "hub.yaml").write_text(
        "task: toolkit_hub\ndataset_path: someone/no-such-dataset\nvalidation_split: validation\n"
        "output_type: multiple_choice\ndoc_to_text: '{{word}}'\ndoc_to_choice: '{{choices}}'\ndoc_to_target: label\n")
    # The model does not exist: the tasks are built (and refused) before any model loads.
    argv = ["--model_name_or_path", "no/such/model", "--include_path", str(tmp_path), "--output_path", str(tmp_path / "o")]
    with pytest.raises(UserError, match=r"task 'toolkit_missing': a data file it names cannot be read .*nothing\.jsonl"):
        main([*argv, "--tasks", "toolkit_missing"])
    with pytest.raises(UserError, match=r"task 'toolkit_hub': its dataset cannot be reached .* offline"):
        main([*argv, "--tasks", "toolkit_hub"])


@pytest.mark.slow
def test_unknown_task_gets_a_close_match_one_line_and_exit_2(tasks, tmp_path):
    """Through the installed command: one line on stderr, exit status 2 (lm-eval's built-in tasks are indexed too)."""
    done = subprocess.run([sys.executable, "-m", "finetune_toolkit", "eval", "--model_name_or_path", "no/such/model",
                           "--tasks", "toolkit_mcc", "--include_path", tasks], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: unknown task 'toolkit_mcc'")
    assert "did you mean toolkit_mc" in done.stderr and "Traceback" not in done.stderr


def test_without_lm_eval_the_command_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval", None)
    with pytest.raises(UserError, match=r"needs lm-evaluation-harness .*pip install 'finetune-toolkit\[lm-eval\]'"):
        main(["--model_name_or_path", "gpt2", "--tasks", "hellaswag"])
