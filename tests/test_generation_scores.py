"""Scoring generated text offline: ROUGE, BLEU, chrF and exact match against the reference packages called directly
and against a hand computation; stop strings typed in a shell; `generate --reference_column`."""

import json

import pytest

from toolkit.errors import UserError
from toolkit.generation import GenerationArguments, unescape
from toolkit.metrics import generation_scores

from helpers import load_script

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
sacrebleu = pytest.importorskip("sacrebleu")

PREDICTIONS = ["the cat sat on the mat", "a dog runs"]
REFERENCES = ["the cat sat on a mat", "a dog ran"]


def test_rouge_by_hand_on_two_sentences():
    scores = generation_scores(PREDICTIONS, REFERENCES)
    # rouge1: 5 of 6 unigrams shared (F 5/6), and "a dog" of 3 (F 2/3; "runs" stems to "run", "ran" stays "ran")
    assert scores["rouge1"] == pytest.approx(100 * (5 / 6 + 2 / 3) / 2)
    # rouge2: 3 of 5 bigrams shared (F 0.6), and 1 of 2 (F 0.5)
    assert scores["rouge2"] == pytest.approx(100 * (0.6 + 0.5) / 2)
    assert scores["rougeL"] == pytest.approx(100 * (5 / 6 + 2 / 3) / 2)  # the longest common subsequences
    assert scores["exact_match"] == 0.0


def test_scores_equal_the_reference_packages_called_directly():
    predictions = PREDICTIONS + ["A quick brown fox\njumps over the lazy dog.", "completely different words"]
    references = REFERENCES + ["The quick brown fox\njumped over a lazy dog.", "nothing alike here at all"]
    scores = generation_scores(predictions, references)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    direct = [scorer.score(r, p) for p, r in zip(predictions, references)]
    for name in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        assert scores[name] == pytest.approx(100 * sum(d[name].fmeasure for d in direct) / len(direct))
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(predictions, [references]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(predictions, [references]).score)


def test_exact_match_normalises_whitespace_only():
    scores = generation_scores([" Paris ", "the  capital\nis Rome", "paris"], ["Paris", "the capital is Rome", "Paris"])
    assert scores["exact_match"] == pytest.approx(2 / 3)  # case still counts


def test_empty_references_are_refused():
    with pytest.raises(UserError, match="a reference is empty"):
        generation_scores(["x"], ["  "])


def test_stop_strings_typed_in_a_shell_are_read_as_escapes():
    assert unescape("\\n") == "\n" and unescape("\\t") == "\t" and unescape("a\\\\n") == "a\\n" and unescape("\\q") == "\\q"
    assert GenerationArguments(stop=["\\n", "END"]).stop == ["\n", "END"]
    assert GenerationArguments(stop=["\n"]).stop == ["\n"]  # a real newline from Python stays one


@pytest.mark.parametrize("kwargs, message", [
    ({"stop": [""]}, "--stop needs a non-empty string"),
    ({"do_sample": True, "num_beams": 4}, "--num_beams with --do_sample"),
])
def test_bad_generation_settings_are_refused(kwargs, message):
    with pytest.raises(UserError, match=message):
        GenerationArguments(**kwargs)


def test_generate_scores_any_model_against_a_reference_column(tiny_gpt2, tmp_path, capsys):
    rows = [{"prompt": "the cat sat on", "completion": "the mat"}, {"prompt": "a bird sang in the", "completion": "tree"}]
    prompts = tmp_path / "test.jsonl"
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "predictions.jsonl"
    answers = load_script("generate").main(["--model_name_or_path", tiny_gpt2, "--prompts_file", str(prompts),
                                            "--reference_column", "completion", "--max_new_tokens", "6", "--stop", "\\n",
                                            "--output_file", str(output)])
    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["reference"] for row in written] == ["the mat", "tree"]
    assert [row["generated_text"] for row in written] == [texts[0] for texts in answers]
    assert all("\n" not in row["generated_text"] for row in written)
    scores = json.loads((tmp_path / "predictions.scores.json").read_text())
    assert scores == pytest.approx({**generation_scores([t[0] for t in answers], ["the mat", "tree"]),
                                    "gen_len": scores["gen_len"], "generation_tokens_per_second": scores["generation_tokens_per_second"],
                                    "samples": 2})
    assert 0 < scores["gen_len"] <= 6


@pytest.mark.parametrize("rows, flags, message", [
    ([{"prompt": "a", "answer": "b"}], [], "line 1 has no text 'completion' field"),
    ([{"prompt": "a", "completion": ""}], [], "line 1 has no text 'completion' field \\(or an empty one\\)"),
    ([{"prompt": "a", "completion": "b"}], ["--num_return_sequences", "2", "--do_sample"], "scores one answer per prompt"),
])
def test_bad_scoring_input_gets_one_line_and_writes_nothing(rows, flags, message, tiny_gpt2, tmp_path):
    prompts = tmp_path / "test.jsonl"
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(UserError, match=message):
        load_script("generate").main(["--model_name_or_path", tiny_gpt2, "--prompts_file", str(prompts), "--reference_column",
                                      "completion", "--output_file", str(tmp_path / "out.jsonl"), *flags])
    assert not (tmp_path / "out.jsonl").exists()
