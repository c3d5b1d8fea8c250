"""Few-shot runs end to end: truncation, generation mode, sweeps that resume, the script and its bad input."""

import csv
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from prompts import FewShotClassifier, FewShotConfig, LabelledExamples, load_template
from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.errors import UserError

from helpers import needs_smollm, ROOT, load_script, write_rows

fewshot = load_script("fewshot")


def test_too_long_prompts_drop_the_oldest_demonstrations_with_a_warning(fewshot_gpt2, caplog):
    model, tokenizer = load_generator(fewshot_gpt2)  # 256 positions
    long_review = " ".join(["the plot was dull and the acting was poor"] * 8)
    pool = LabelledExamples([{"text": f"{i} {long_review}"} for i in range(4)], [0, 1, 0, 1])
    classifier = FewShotClassifier(model, tokenizer, load_template("sentiment"), pool,
                                   FewShotConfig(shots=4, selection="first_n", progress=False))
    with caplog.at_level(logging.WARNING):
        result = classifier.predict(["a good film"])
    kept = result.demonstrations[0]
    assert 0 < len(kept) < 4 and kept == [0, 1, 2, 3][4 - len(kept):]  # the newest ones survive
    assert f"dropped the oldest demonstrations of 1 of 1 prompts ({4 - len(kept)} in all" in caplog.text
    assert result.example_prompt.endswith("Review: a good film\nSentiment:")  # the query is whole


def test_a_query_longer_than_the_context_is_refused_not_cut(fewshot_gpt2):
    model, tokenizer = load_generator(fewshot_gpt2)
    classifier = FewShotClassifier(model, tokenizer, load_template("sentiment"), None, FewShotConfig(progress=False))
    with pytest.raises(UserError, match=r"example 1 alone is 1\d+ tokens, more than the model.s context of 256 .*\(the query is never cut\)"):
        classifier.predict(["dull " * 300])


def test_generated_answers_map_to_labels_and_unmappable_ones_are_counted(fewshot_gpt2, monkeypatch):
    model, tokenizer = load_generator(fewshot_gpt2)
    answers = [" Positive.", "negative, I think", "maybe", " positive"]
    # The model's answers are fixed here, so the mapping is checked against labels written by hand.
    monkeypatch.setattr("prompts.classifier.generate_across_processes",
                        lambda model, tokenizer, prompts, args: [[a] for a in answers[:len(prompts)]])
    classifier = FewShotClassifier(model, tokenizer, load_template("sentiment"), None, FewShotConfig(mode="generate", max_new_tokens=3))
    result = classifier.predict(["a good film", "a dull plot", "the cast", "superb"])
    assert result.answers == answers
    assert result.predictions == [1, 0, -1, 1]
    assert result.unmappable == 1


@pytest.mark.parametrize("answer, label", [(" Positive.", 1), ("negative, because", 0), ("positively", None),
                                           ("neutral", None), ("", None)])
def test_answer_to_label_mapping(answer, label):
    assert load_template("sentiment").verbalizer.label_for_answer(answer) == label


def _sweep_args(model, files, output_dir, *extra):
    return ["--model_name_or_path", model, "--train_file", files["train"], "--validation_file", files["validation"],
            "--shots", "0", "2", "--seeds", "0", "1", "--calibrate", "--output_dir", str(output_dir), *extra]


def _table(output_dir):
    with open(Path(output_dir) / "results.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k not in ("seconds", "examples_per_second")} for row in csv.DictReader(handle)]


def test_sweep_writes_one_row_per_run_with_the_promised_columns(fewshot_gpt2, fewshot_files, tmp_path, capsys):
    rows = fewshot.main(_sweep_args(fewshot_gpt2, fewshot_files, tmp_path / "sweep"))
    assert len(rows) == (1 + 2) * 2  # (0-shot once, 2-shot x 2 seeds) x calibrated
    zero_shot = [row for row in rows if row["shots"] == 0]
    assert [(row["seed"], row["selection"]) for row in zero_shot] == [(None, "none")] * 2  # one run, reported once
    table = _table(tmp_path / "sweep")
    for column in ("model", "shots", "seed", "template", "selection", "calibrated", "accuracy", "macro_f1",
                   "recall_negative", "recall_positive"):
        assert column in table[0]
    assert {"seconds", "examples_per_second"} <= set(json.loads((tmp_path / "sweep" / "results.json").read_text())[0])
    assert (tmp_path / "sweep" / "accuracy_vs_shots.png").stat().st_size > 1000
    predictions = (tmp_path / "sweep" / "predictions").glob("*2shot__seed1.jsonl")
    lines = next(predictions).read_text().splitlines()
    assert len(lines) == 24 and len(json.loads(lines[0])["demonstrations"]) == 2
    assert "± " in capsys.readouterr().out


def test_resumed_sweep_runs_only_what_is_missing_and_gives_the_same_table(fewshot_gpt2, fewshot_files, tmp_path, caplog):
    fewshot.main(_sweep_args(fewshot_gpt2, fewshot_files, tmp_path / "full"))
    resumed = tmp_path / "resumed"
    fewshot.main(_sweep_args(fewshot_gpt2, fewshot_files, resumed, "--seeds", "0"))  # a partial sweep ...
    (resumed / "results.csv").unlink()
    with caplog.at_level(logging.WARNING):
        fewshot.main(_sweep_args(fewshot_gpt2, fewshot_files, resumed))  # ... finished by the full command
    assert "resuming: 2 of 3 runs already" in caplog.text
    assert _table(resumed) == _table(tmp_path / "full")


def test_a_different_sweep_in_the_output_dir_is_refused(fewshot_gpt2, fewshot_files, tmp_path):
    fewshot.main(_sweep_args(fewshot_gpt2, fewshot_files, tmp_path / "out", "--shots", "0"))
    with pytest.raises(UserError, match="holds a different sweep; pass --overwrite_output_dir"):
        fewshot.main(_sweep_args(fewshot_gpt2, fewshot_files, tmp_path / "out", "--shots", "0", "--label_scoring", "mean"))
    fewshot.main(_sweep_args(fewshot_gpt2, fewshot_files, tmp_path / "out", "--shots", "0", "--label_scoring", "mean",
                             "--overwrite_output_dir"))


def _run_script(args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "fewshot.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, fewshot_files):
    directory = tmp_path_factory.mktemp("bad")
    rows = [json.loads(line) for line in Path(fewshot_files["train"]).read_text().splitlines()]
    return {
        "sentence": write_rows(directory / "sentence.jsonl", [{"sentence": r["text"], "label": r["label"]} for r in rows]),
        "three_labels": write_rows(directory / "three.jsonl", [{"text": r["text"], "label": i % 3} for i, r in enumerate(rows)]),
        "strings": write_rows(directory / "strings.jsonl", [{"text": "x", "label": "neutral"}, {"text": "y", "label": "positive"}]),
        "only_negative": write_rows(directory / "neg.jsonl", [r for r in rows if r["label"] == 0][:20]),
        "few_positive": write_rows(directory / "fewpos.jsonl", [r for r in rows if r["label"] == 0][:20] + [r for r in rows if r["label"] == 1][:1]),
    }


@pytest.mark.parametrize("case, message", [
    ("field", "has no column 'text' for the template field 'text'; pass --text_columns"),
    ("k_too_big", "200 demonstrations asked for, but the pool has 96"),
    ("balanced", "balanced selection of 4 needs 2 examples of label 'positive', but the pool has 1"),
    ("label_sets", "different label sets"),
    ("no_verbalizer", "label 'neutral' has no verbalizer in template 'sentiment'"),
    ("encoder", "is an encoder; text generation and few-shot scoring need a causal LM"),
    ("template", "unknown template 'sentimnet'"),
    ("shared_first_token", "start with the same token 'Ġpositive', so single-token scoring cannot tell them apart"),
])
def test_bad_input_gets_one_line_exit_2_and_no_output(case, message, fewshot_gpt2, tiny_bert, fewshot_files, bad_files, tmp_path):
    model, train, validation, extra = fewshot_gpt2, fewshot_files["train"], fewshot_files["validation"], ["--shots", "2"]
    if case == "field":
        validation = bad_files["sentence"]
    elif case == "k_too_big":
        extra = ["--shots", "200"]
    elif case == "balanced":
        train, extra = bad_files["few_positive"], ["--shots", "4", "--selection", "balanced"]
        validation = bad_files["few_positive"]
    elif case == "label_sets":
        train = bad_files["only_negative"]
    elif case == "no_verbalizer":
        validation = bad_files["strings"]
    elif case == "encoder":
        model = tiny_bert
    elif case == "template":
        extra += ["--template", "sentimnet"]
    elif case == "shared_first_token":
        template = tmp_path / "clash.json"
        template.write_text(json.dumps({"demonstration": "Review: {text}\nSentiment: {label}",
                                        "labels": {"negative": "positive no", "positive": "positive"}}))
        extra += ["--template", str(template), "--label_scoring", "single"]
    output_dir = tmp_path / "out"
    argv = ["--model_name_or_path", model, "--train_file", train, "--validation_file", validation, "--output_dir", str(output_dir), *extra]
    if case == "field":  # the whole contract once, as a user meets it: a process, one line, exit status 2
        result = _run_script(argv)
        assert result.returncode == 2, result.stderr[-2000:]
        lines = result.stderr.strip().splitlines()
        assert message in lines[-1] and lines[-1].startswith("error: ") and "Traceback" not in result.stderr
    else:  # the rest in this process: the same UserError, which run_script prints as that one line
        with pytest.raises(UserError) as refused:
            load_script("fewshot").main(argv)
        assert message in str(refused.value) and "\n" not in str(refused.value)
    assert not output_dir.exists() or not any((output_dir / "runs").iterdir())


@needs_smollm
@pytest.mark.slow
def test_smollm2_with_four_demonstrations_beats_chance_on_the_shipped_reviews(tmp_path):
    from finetune.data import movie_review_files

    files = movie_review_files()
    rows = fewshot.main(["--model_name_or_path", "packaged:SmolLM2-135M-Instruct", "--train_file", files["train"],
                         "--validation_file", files["test"], "--shots", "4", "--seeds", "0", "--calibrate", "--output_dir", str(tmp_path)])
    assert rows[0]["examples"] == 120
    uncalibrated, calibrated = rows
    assert calibrated["calibrated"] and calibrated["accuracy"] >= 0.85  # chance is 0.5 on the balanced 120 reviews
    assert uncalibrated["accuracy"] > 0.5
