"""Few-shot beyond a fixed label set: multiple choice with each example's own options, and generated answers.

Each path is compared with an independent computation: option scores with one plain forward pass per option,
generated answers with a plain greedy loop, and every metric with a hand computation.
"""

import json
import math
from pathlib import Path

import pytest
import torch

from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.prefixes import encode_prefix
from finetune_toolkit.report import load_report
from prompts import AnswerGenerator, FewShotConfig, LabelledExamples, MultipleChoicePredictor, load_template
from prompts.data import FewShotDataArguments, load_fewshot_data
from prompts.fewshot_metrics import multiple_choice_scores
from prompts.template import PromptTemplate

from helpers import load_script, write_rows

fewshot = load_script("fewshot")


def example_data(name: str):
    template = load_template(name)
    return template, *load_fewshot_data(FewShotDataArguments(dataset_name=f"example:{name}"), template, need_pool=True)


def plain_option_log_prob(model, tokenizer, prompt: str, continuation: str) -> float:
    """Summed log-probability of `continuation` after `prompt`, from one forward pass over both. The continuation's
    tokens are its own encoding: a byte-level BPE never merges a word that starts with a space into the text before it,
    so they must equal what follows the prompt in the whole text's encoding (checked, not assumed)."""
    context = tokenizer(prompt)["input_ids"]
    option = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    assert tokenizer(prompt + continuation)["input_ids"] == context + option
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([context + option])).logits[0].double(), -1)
    return sum(log_probs[len(context) - 1 + j, token].item() for j, token in enumerate(option))


def test_option_scores_with_shared_prefixes_equal_one_plain_pass_per_option(fewshot_gpt2):
    model, tokenizer = load_generator(fewshot_gpt2)
    template, pool, evaluation = example_data("antonyms")
    examples = LabelledExamples(evaluation.fields[:6], evaluation.labels[:6])
    predictor = MultipleChoicePredictor(model, tokenizer, template, pool, FewShotConfig(shots=3, seed=1, batch_size=4, progress=False))
    result = predictor.predict(examples)
    for i, query in enumerate(examples.fields):
        prompt = predictor.prompts.render(query, result.demonstrations[i])
        expected = [plain_option_log_prob(model, tokenizer, prompt, " " + option) for option in query["choices"]]
        assert result.option_log_probs[i] == pytest.approx(expected, abs=1e-4)
        assert result.predictions[i] == max(range(4), key=expected.__getitem__)
    assert predictor.scorer.plain_reason is None, "the fast path must be the one compared"
    assert len(set(map(tuple, result.demonstrations))) == 1 and len(result.demonstrations[0]) == 3  # one shared prefix


def test_multiple_choice_metrics_by_hand_with_non_ascii_options():
    # Lengths are Python len() of the option text: "é日本" is 3 characters (6 bytes in UTF-8), "ü" is 1.
    # Example 1: sums pick option 0 (-2 > -3); per character -2/2 = -1 ties -3/3 = -1 and the first wins (numpy's
    # argmax in lm-eval), so both pick option 0, which is wrong. Example 2: sums pick option 0 (-4.5 > -6), per
    # character -4.5/1 < -6/4 = -1.5 picks option 1, which is right.
    scores = multiple_choice_scores([[-2.0, -3.0], [-4.5, -6.0]], [["ab", "é日本"], ["ü", "long"]], [1, 1])
    assert scores["accuracy"] == 0.0
    assert scores["accuracy_norm"] == pytest.approx(0.5)
    p1 = math.exp(-3.0) / (math.exp(-2.0) + math.exp(-3.0))
    p2 = math.exp(-6.0) / (math.exp(-4.5) + math.exp(-6.0))
    assert scores["correct_option_prob"] == pytest.approx((p1 + p2) / 2)
    # Brier over two options: (p_wrong - 0)^2 + (p_right - 1)^2 = 2 (1 - p_right)^2.
    assert scores["brier_score"] == pytest.approx((2 * (1 - p1) ** 2 + 2 * (1 - p2) ** 2) / 2)


def plain_greedy_answer(model, tokenizer, prompt: str, max_new_tokens: int, stop: str = "\n") -> str:
    ids = tokenizer(prompt)["input_ids"]
    new = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = model(torch.tensor([ids + new])).logits[0, -1].argmax().item()
            if token == tokenizer.eos_token_id:
                break
            new.append(token)
            if stop in tokenizer.decode(new):
                break
    text = tokenizer.decode(new, skip_special_tokens=True)
    return text[: text.index(stop)] if stop in text else text


@pytest.mark.parametrize("model_fixture", ["fewshot_gpt2", "tiny_llama"])
@pytest.mark.parametrize("reuse_prefix", [True, False])
def test_generated_answers_equal_a_plain_greedy_loop(model_fixture, reuse_prefix, request, monkeypatch):
    import finetune_toolkit.core.generation as generation

    prefixes = []
    monkeypatch.setattr(generation, "encode_prefix", lambda model, ids: prefixes.append(ids) or encode_prefix(model, ids))
    model, tokenizer = load_generator(request.getfixturevalue(model_fixture))
    template, pool, evaluation = example_data("arithmetic")
    examples = LabelledExamples(evaluation.fields[:7], evaluation.labels[:7])
    config = FewShotConfig(shots=2, batch_size=3, reuse_prefix=reuse_prefix, progress=False)
    generator = AnswerGenerator(model, tokenizer, template, pool, config)
    result = generator.predict(examples)
    for i, query in enumerate(examples.fields):
        prompt = generator.prompts.render(query, result.demonstrations[i])
        assert result.answers[i] == plain_greedy_answer(model, tokenizer, prompt, template.max_new_tokens)
    # With reuse, the two shared demonstrations are computed once for all seven prompts.
    assert len(prefixes) == (1 if reuse_prefix else 0) and (not prefixes or len(prefixes[0]) > 20)


def test_multiple_choice_sweep_writes_rows_predictions_and_plots(fewshot_gpt2, tmp_path, capsys):
    output = tmp_path / "mc"
    rows = fewshot.main(["--model_name_or_path", fewshot_gpt2, "--template", "antonyms", "--dataset_name", "example:antonyms",
                         "--shots", "0", "2", "--seeds", "0", "1", "--max_eval_samples", "8", "--output_dir", str(output)])
    assert [(row["shots"], row["seed"]) for row in rows] == [(0, None), (2, 0), (2, 1)]
    for row in rows:
        assert {"accuracy", "accuracy_norm", "correct_option_prob", "brier_score"} <= set(row) and row["type"] == "multiple_choice"
    lines = [json.loads(line) for line in (output / "predictions").glob("*2shot__seed1.jsonl").__next__().read_text().splitlines()]
    assert len(lines) == 8 and len(lines[0]["options"]) == 4 and len(lines[0]["option_log_probs"]) == 4
    assert lines[0]["prompt"].count("Question: What is the opposite of") == 3 and lines[0]["prompt"].endswith("\nAnswer:")
    seed1 = rows[2]
    assert seed1["accuracy"] == pytest.approx(sum(line["correct"] for line in lines) / 8)
    assert seed1["accuracy"] == pytest.approx(sum(line["prediction"] == line["label"] for line in lines) / 8)
    assert seed1["accuracy_norm"] == pytest.approx(sum(line["prediction_norm"] == line["label"] for line in lines) / 8)
    assert (output / "accuracy_vs_shots.png").stat().st_size > 1000
    assert "accuracy_norm" in capsys.readouterr().out
    report = load_report(output)  # the page: each option's probability, the gold one, the prompt's parts
    page_rows = [row for row in report.rows if report.runs[row["r"]]["name"].endswith("2shot__seed1")]
    assert [row["ok"] for row in page_rows] == [int(line["correct"]) for line in lines]
    for row, line in zip(page_rows, lines):
        assert [option[0] for option in row["o"]] == line["options"] and row["go"] == line["label"]
        assert sum(option[2] for option in row["o"]) == pytest.approx(1, abs=1e-5)
        assert [kind for _, _, kind in row["sp"]] == ["demonstration", "demonstration", "query"]


def test_generation_sweep_scores_exact_match_per_example(fewshot_gpt2, tmp_path):
    output = tmp_path / "gen"
    rows = fewshot.main(["--model_name_or_path", fewshot_gpt2, "--template", "arithmetic", "--dataset_name", "example:arithmetic",
                         "--shots", "1", "--max_eval_samples", "6", "--max_new_tokens", "3", "--output_dir", str(output)])
    (row,) = rows
    lines = [json.loads(line) for line in next((output / "predictions").glob("*.jsonl")).read_text().splitlines()]
    assert row["exact_match"] == pytest.approx(sum(line["exact_match"] for line in lines) / 6)
    assert {"token_edit_distance", "rougeL", "chrf"} <= set(row)
    assert all(line["reference"] and "prediction" in line for line in lines)
    assert (output / "exact_match_vs_shots.png").stat().st_size > 1000
    report = load_report(output)  # the page: each answer against its reference, exact match as the sweep scored it
    assert [(row["p"], row["g"], row["ok"]) for row in report.rows] == \
        [(line["prediction"], line["reference"], int(line["exact_match"])) for line in lines]


def write_template(path: Path, **spec) -> str:
    path.write_text(json.dumps({"demonstration": "Q: {question}\nA: {label}", **spec}))
    return str(path)


@pytest.mark.parametrize("rows, message", [
    ([{"question": "q", "choices": "a b", "label": 0}], "must hold a list of options, got str"),
    ([{"question": "q", "choices": [], "label": 0}], "has 0 option(s); multiple choice needs at least two"),
    ([{"question": "q", "choices": ["a"], "label": 0}], "has 1 option(s); multiple choice needs at least two"),
    ([{"question": "q", "choices": ["a", "b"], "label": 2}], "answer index 2 is out of range for 2 options (0..1)"),
    ([{"question": "q", "choices": ["a", "b"], "label": "c"}], "answer 'c' is not among the options ['a', 'b']"),
])
def test_bad_multiple_choice_rows_are_refused_naming_the_row(rows, message, tmp_path):
    template = PromptTemplate.from_dict({"type": "multiple_choice", "choices_column": "choices",
                                         "demonstration": "Q: {question}\nA: {label}"}, "mc")
    data = FewShotDataArguments(validation_file=write_rows(tmp_path / "eval.jsonl", rows))
    with pytest.raises(UserError, match="'[^']*eval.jsonl' row 1: .*" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        load_fewshot_data(data, template, need_pool=False)


def test_answer_given_as_option_text_is_its_index(tmp_path):
    template = load_template("antonyms")
    rows = [{"word": "hot", "choices": ["cold", "warm"], "label": "warm"}, {"word": "up", "choices": ["down", "left"], "label": 0}]
    _, evaluation = load_fewshot_data(FewShotDataArguments(validation_file=write_rows(tmp_path / "e.jsonl", rows)), template, False)
    assert evaluation.labels == [1, 0]


@pytest.mark.parametrize("spec, message", [
    ({"type": "ranking"}, "unknown type 'ranking'; choose from: classification, multiple_choice, generation"),
    ({"type": "generation", "stop": []}, "'stop' is empty; give at least one stop string"),
    ({"type": "generation", "stop": [""]}, "has an empty stop string"),
    ({"type": "generation", "stop": "\n"}, "'stop' must be a list of strings"),
    ({"type": "multiple_choice"}, "needs 'choices_column: NAME'"),
    ({"type": "generation", "labels": {"a": "x", "b": "y"}}, "takes no 'labels'"),
    ({"labels": {"a": "x", "b": "y"}, "stop": ["\n"]}, "'stop' belongs to generation templates"),
])
def test_bad_templates_are_refused(spec, message, tmp_path):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_template(write_template(tmp_path / "t.json", **spec))


@pytest.mark.parametrize("template, extra, message", [
    ("antonyms", ["--calibrate"], "--calibrate applies to classification templates"),
    ("arithmetic", ["--calibrate"], "--calibrate applies to classification templates"),
    ("arithmetic", ["--stop", ""], "--stop has an empty stop string"),
    ("antonyms", ["--selection", "balanced"], "--selection balanced works with a fixed label set"),
    ("sentiment", ["--stop", "\\n"], "--stop applies to generation templates"),
    ("antonyms", ["--max_new_tokens", "4"], "--stop and --max_new_tokens apply to generation"),
])
def test_options_that_do_not_apply_to_the_kind_are_refused_before_anything_runs(fewshot_gpt2, template, extra, message, tmp_path):
    output = tmp_path / "out"
    with pytest.raises(UserError, match=message):
        fewshot.main(["--model_name_or_path", fewshot_gpt2, "--template", template, "--dataset_name", "example:arithmetic",
                      "--shots", "0", "--output_dir", str(output), *extra])
    assert not output.exists()


def test_the_shipped_example_files_are_what_the_generator_writes(tmp_path):
    from prompts.example_tasks import EXAMPLE_TASKS, EXAMPLES_DIR, write_examples

    write_examples(tmp_path)
    for name in EXAMPLE_TASKS:
        for split in ("train", "validation"):
            assert (tmp_path / name / f"{split}.jsonl").read_bytes() == (EXAMPLES_DIR / name / f"{split}.jsonl").read_bytes()
