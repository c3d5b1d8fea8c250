"""`finetune-toolkit eval` with lm-eval's flags: the same prompts and numbers as lm-eval's own `hf` run with the same
flags, model arguments honoured or refused in one line, checks before the first request, results files checked."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install -e .[lm-eval])")

import lm_eval  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402

from finetune_toolkit.commands.eval import main  # noqa: E402
from finetune_toolkit.core.causal_lm import load_generator  # noqa: E402
from finetune_toolkit.core.errors import UserError  # noqa: E402
from finetune_toolkit.evaluation import lm_eval_model  # noqa: E402

from lm_eval_tasks import write_tasks  # noqa: E402

CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    return str(write_tasks(tmp_path_factory.mktemp("tasks")))


@pytest.fixture(scope="module")
def chat_gpt2(fewshot_gpt2, tmp_path_factory):
    """The few-shot GPT-2 with a chat template of its own."""
    folder = tmp_path_factory.mktemp("chat") / "model"
    shutil.copytree(fewshot_gpt2, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = CHAT_TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return str(folder)


def _samples(folder: Path, task: str) -> list[dict]:
    """A samples file as lm-eval's in-memory samples: arguments as lists of request arguments."""
    (path,) = folder.rglob(f"samples_{task}_*.jsonl")
    samples = sorted((json.loads(line) for line in path.read_text().splitlines()), key=lambda s: s["doc_id"])
    for sample in samples:
        sample["arguments"] = [[value for _, value in sorted(request.items())] for request in sample["arguments"].values()]
    return samples


def _plain(samples) -> list[dict]:
    return [{**s, "arguments": [list(a) for a in s["arguments"]]} for s in sorted(samples, key=lambda s: s["doc_id"])]


def _lm_eval_hf(model_dir: str, tasks: str, task: str, **flags) -> dict:
    model, tokenizer = load_generator(model_dir)
    from lm_eval.tasks import TaskManager

    return lm_eval.simple_evaluate(model=HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4), tasks=[task],
                                   task_manager=TaskManager(include_path=tasks, include_defaults=False),
                                   log_samples=True, **flags)


@pytest.mark.parametrize("multiturn", [None, "false"])
def test_a_chat_template_builds_lm_evals_prompts_demonstrations_as_earlier_turns(chat_gpt2, tasks, tmp_path, multiturn):
    """lm-eval turns fewshot_as_multiturn on with a chat template (and `--fewshot_as_multiturn false` off): the
    logged prompts must be lm-eval's own."""
    main(["--model_args", f"pretrained={chat_gpt2}", "--tasks", "toolkit_mc", "--include_path", tasks, "--num_fewshot",
          "2", "--limit", "4", "--apply_chat_template", "--log_samples", "--output_path", str(tmp_path / "ours"),
          *(["--fewshot_as_multiturn", multiturn] if multiturn else [])])
    theirs = _lm_eval_hf(chat_gpt2, tasks, "toolkit_mc", num_fewshot=2, limit=4, apply_chat_template=True,
                         fewshot_as_multiturn=multiturn is None)
    ours = _samples(tmp_path / "ours", "toolkit_mc")
    their_samples = _plain(theirs["samples"]["toolkit_mc"])
    assert [s["arguments"] for s in ours] == [s["arguments"] for s in their_samples]
    assert ours[0]["arguments"][0][0].count("<assistant>") == (3 if multiturn is None else 1), "demonstrations as turns"
    for ours_sample, their_sample in zip(ours, their_samples):
        ours_ll = [float(r[0][0]) for r in ours_sample["resps"]]
        their_ll = [float(r[0][0]) for r in their_sample["resps"]]
        assert ours_ll == pytest.approx(their_ll, abs=1e-4)


def test_gen_kwargs_and_four_seeds_give_lm_evals_answers(fewshot_gpt2, tasks, tmp_path):
    main(["--model_name_or_path", fewshot_gpt2, "--tasks", "toolkit_gen", "--include_path", tasks, "--num_fewshot", "1",
          "--limit", "4", "--gen_kwargs", "max_gen_toks=3", "--seed", "1,2,3,4", "--log_samples",
          "--output_path", str(tmp_path / "ours")])
    theirs = _lm_eval_hf(fewshot_gpt2, tasks, "toolkit_gen", num_fewshot=1, limit=4, gen_kwargs={"max_gen_toks": 3},
                         random_seed=1, numpy_random_seed=2, torch_random_seed=3, fewshot_random_seed=4)
    ours = _samples(tmp_path / "ours", "toolkit_gen")
    their_samples = _plain(theirs["samples"]["toolkit_gen"])
    assert [s["arguments"][0][0] for s in ours] == [s["arguments"][0][0] for s in their_samples]
    assert [s["resps"] for s in ours] == [s["resps"] for s in their_samples]
    assert all(s["arguments"][0][1]["max_gen_toks"] == 3 for s in their_samples)


def test_model_args_reach_the_loader(fewshot_gpt2, tasks, tmp_path, monkeypatch):
    seen = []
    real = lm_eval_model.load_generator

    def spy(arguments, **kwargs):
        seen.append((arguments.model_revision, arguments.tokenizer_name, kwargs.get("dtype")))
        return real(arguments, **kwargs)

    monkeypatch.setattr(lm_eval_model, "load_generator", spy)
    main(["--model_args", f"pretrained={fewshot_gpt2},revision=v2,tokenizer={fewshot_gpt2},dtype=float32",
          "--tasks", "toolkit_mc", "--include_path", tasks, "--limit", "2"])
    assert seen == [("v2", fewshot_gpt2, "float32")]


@pytest.mark.parametrize("flags, message", [
    (["--model_args", "pretrained=x,trust_remote_code=True"], "trust_remote_code is refused"),
    (["--model_args", "pretrained=x,flavour=sweet"], "--model_args flavour= is not an argument of lm-eval's hf model"),
    (["--model_name_or_path", "x", "--model_args", "pretrained=y"], "give the model once"),
    (["--model_name_or_path", "x", "--gen_kwargs", "do_sample=True,temperature=0"], "do_sample with temperature 0"),
    (["--model_name_or_path", "x", "--gen_kwargs", "do_sample=True", "num_beams=2"], "beam sampling"),
    (["--model_name_or_path", "x", "--seed", "1,2"], "--seed"),
    (["--model_name_or_path", "x", "--fewshot_as_multiturn"], "--fewshot_as_multiturn needs --apply_chat_template"),
])
def test_bad_model_and_generation_arguments_are_refused_before_any_model_loads(flags, message, tasks, tmp_path):
    with pytest.raises(UserError, match=message.replace("-", r"\-")):
        main([*flags, "--tasks", "toolkit_gen", "--include_path", tasks, "--output_path", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def test_a_results_file_that_failed_to_write_is_an_error_and_the_rerun_evaluates_again(fewshot_gpt2, tasks, tmp_path,
                                                                                         monkeypatch):
    from lm_eval.loggers import EvaluationTracker

    argv = ["--model_name_or_path", fewshot_gpt2, "--tasks", "toolkit_mc", "--include_path", tasks, "--limit", "2",
            "--output_path", str(tmp_path / "o")]
    save = EvaluationTracker.save_results_aggregated
    monkeypatch.setattr(EvaluationTracker, "save_results_aggregated", lambda self, **kwargs: None)  # logged, swallowed
    with pytest.raises(UserError, match="lm-eval could not write its results file"):
        main(argv)
    monkeypatch.setattr(EvaluationTracker, "save_results_aggregated", save)
    rows = main(argv)
    assert rows[0]["toolkit_mc acc"] == pytest.approx(json.loads(next((tmp_path / "o").rglob("results_*.json")).read_text())
                                                      ["results"]["toolkit_mc"]["acc,none"])


@pytest.mark.slow
def test_two_processes_give_the_results_of_one(fewshot_gpt2, tasks, tmp_path):
    """`accelerate launch --num_processes 2` on CPU: each process scores its share, the main one writes the same
    metrics and per-document log-likelihoods as a single process."""
    common = ["eval", "--model_name_or_path", fewshot_gpt2, "--tasks", "toolkit_mc", "--include_path", tasks,
              "--num_fewshot", "1", "--limit", "6", "--log_samples"]
    one = subprocess.run([sys.executable, "-m", "finetune_toolkit", *common, "--output_path", str(tmp_path / "one")],
                         capture_output=True, text=True)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
                          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m",
                          "finetune_toolkit", *common, "--output_path", str(tmp_path / "two")],
                         capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-2000:]
    assert "Traceback" not in two.stderr
    (one_results,), (two_results,) = (list((tmp_path / n).rglob("results_*.json")) for n in ("one", "two"))
    assert json.loads(one_results.read_text())["results"] == json.loads(two_results.read_text())["results"]
    one_samples, two_samples = _samples(tmp_path / "one", "toolkit_mc"), _samples(tmp_path / "two", "toolkit_mc")
    assert [s["doc_id"] for s in two_samples] == list(range(6))
    for a, b in zip(one_samples, two_samples):
        assert [float(r[0][0]) for r in a["resps"]] == pytest.approx([float(r[0][0]) for r in b["resps"]], abs=1e-5)


FLAG_CASES = [
    # (our flags, lm-eval's simple_evaluate arguments for the same run)
    (["--system_instruction", "Answer with one word."], {"system_instruction": "Answer with one word."}),
    (["--samples", '{"toolkit_mc": [1, 3]}'], {"samples": {"toolkit_mc": [1, 3]}}),
    (["--predict_only"], {"predict_only": True}),
    (["--metadata", "max_seq_lengths=[64]"], {"metadata": {"max_seq_lengths": [64]}}),
    (["--batch_size", "auto:4", "--max_batch_size", "2"], {}),
    (["--device", "cpu", "--write_out", "--show_config", "--verbosity", "ERROR"], {}),
    (["--cache_requests", "true"], {"cache_requests": True}),
    (["--use_cache", "responses"], {"use_cache": "their_responses"}),
    (["--confirm_run_unsafe_code"], {"confirm_run_unsafe_code": True}),
    (["--model_args", "max_length=48"], {"model_max_length": 48}),
]


@pytest.mark.parametrize("flags, theirs", FLAG_CASES, ids=[" ".join(f[:2]) for f, _ in FLAG_CASES])
def test_each_lm_eval_flag_gives_lm_evals_samples(flags, theirs, fewshot_gpt2, tasks, tmp_path, monkeypatch):
    """Every flag lm-eval's run below also takes: the logged prompts and responses equal lm-eval's own `hf` run."""
    monkeypatch.chdir(tmp_path)  # lm-eval's request cache lives in the working folder
    model_args = [f for f in flags if f.startswith("max_length")]
    ours_flags = [f for f in flags if not f.startswith("max_length") and f != "--model_args"]
    pretrained = f"pretrained={fewshot_gpt2}" + ("," + model_args[0] if model_args else "")
    main(["--model_args", pretrained, "--tasks", "toolkit_mc", "--include_path", tasks, "--num_fewshot", "1",
          *(["--limit", "4"] if "--samples" not in flags else []), "--log_samples", "--output_path", str(tmp_path / "ours"),
          *ours_flags])
    max_length = theirs.pop("model_max_length", None)
    model, tokenizer = load_generator(fewshot_gpt2)
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4, **({"max_length": max_length} if max_length else {}))
    result = lm_eval.simple_evaluate(model=lm, tasks=["toolkit_mc"], num_fewshot=1, log_samples=True,
                                     task_manager=TaskManager(include_path=tasks, include_defaults=False),
                                     **({"limit": 4} if "samples" not in theirs else {}), **theirs)
    ours = _samples(tmp_path / "ours", "toolkit_mc")
    expected = _plain(result["samples"]["toolkit_mc"])
    assert [s["doc_id"] for s in ours] == [s["doc_id"] for s in expected]
    assert [s["arguments"] for s in ours] == [s["arguments"] for s in expected]
    for a, b in zip(ours, expected):
        assert [float(r[0][0]) for r in a["resps"]] == pytest.approx([float(r[0][0]) for r in b["resps"]], abs=1e-4)
    (results_file,) = (tmp_path / "ours").rglob("results_*.json")
    written = json.loads(results_file.read_text())
    assert ("acc,none" in written["results"]["toolkit_mc"]) == ("predict_only" not in theirs)


def test_an_output_path_ending_in_json_takes_lm_evals_file_names_in_its_folder(fewshot_gpt2, tasks, tmp_path):
    main(["--model_name_or_path", fewshot_gpt2, "--tasks", "toolkit_mc", "--include_path", tasks, "--limit", "2",
          "--log_samples", "--output_path", str(tmp_path / "out" / "scores.json")])
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert any(name.startswith("scores_") and name.endswith(".json") for name in names), names
    assert any(name.startswith("samples_toolkit_mc_") for name in names), names
