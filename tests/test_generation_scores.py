"""Scoring generated text offline: ROUGE, BLEU, chrF and exact match against hand computations and definitions; stop strings typed in a shell; `generate --reference_column`."""

import json
import time

import pytest

from finetune_toolkit.report import load_report

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.command_line import parse_args, unescape
from finetune_toolkit.core.generation import GenerationArguments
from finetune_toolkit.core.metrics import generation_scores

from helpers import load_script

pytest.importorskip("rouge_score")
pytest.importorskip("sacrebleu")

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


def test_bleu_by_hand_on_one_sentence():
    # n-gram precisions of "the cat sat on the mat" against "the cat sat on a mat": 5/6, 3/5, 2/4, 1/3; same length,
    # so no brevity penalty: BLEU is their geometric mean
    scores = generation_scores(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert scores["bleu"] == pytest.approx(100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)


def chrf_by_hand(hypothesis: str, reference: str, order: int = 6, beta: float = 2.0) -> float:
    """chrF (Popović 2015) as sacreBLEU defines it: character n-grams of 1..6 with spaces removed, precision and recall
    averaged over the orders, then the F-score weighting recall beta times as much."""
    from collections import Counter

    hypothesis, reference = hypothesis.replace(" ", ""), reference.replace(" ", "")
    precision = recall = 0.0
    for n in range(1, order + 1):
        hyp = Counter(hypothesis[i:i + n] for i in range(len(hypothesis) - n + 1))
        ref = Counter(reference[i:i + n] for i in range(len(reference) - n + 1))
        matches = sum((hyp & ref).values())
        precision, recall = precision + matches / sum(hyp.values()) / order, recall + matches / sum(ref.values()) / order
    return 100 * (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


@pytest.mark.parametrize("prediction, reference", [("the cat sat on the mat", "the cat sat on a mat"),
                                                   ("a quick brown fox", "the quick brown dog")])
def test_chrf_against_its_definition(prediction, reference):
    assert generation_scores([prediction], [reference])["chrf"] == pytest.approx(chrf_by_hand(prediction, reference))


def test_rouge_lsum_reads_newlines_as_sentence_boundaries():
    # One sentence per line: the union LCS of each reference sentence with the prediction's sentences. Here every
    # reference sentence is found whole, in the other order, so rougeLsum is 100 while rougeL (one LCS) is not.
    scores = generation_scores(["b c d\na b"], ["a b\nb c d"])
    assert scores["rougeLsum"] == pytest.approx(100.0)
    assert scores["rougeL"] == pytest.approx(100 * 3 / 5)  # LCS "b c d" (or "a b"... the longest is 3) of 5 and 5 tokens


def test_exact_match_ignores_surrounding_whitespace_only():
    scores = generation_scores([" Paris ", "the  capital\nis Rome", "paris"], ["Paris", "the capital is Rome", "Paris"])
    assert scores["exact_match"] == pytest.approx(1 / 3)  # inner whitespace and case still count


def test_exact_match_options_by_hand():
    from finetune_toolkit.core.metrics import exact_match

    predictions, references = [" Paris.", "PARIS", "Rome!", " 42\n"], ["Paris", "paris", "Rome", "42"]
    assert exact_match(predictions, references) == pytest.approx(1 / 4)  # only " 42\n" -> "42"
    assert exact_match(predictions, references, ignore_case=True) == pytest.approx(2 / 4)
    assert exact_match(predictions, references, ignore_punctuation=True) == pytest.approx(3 / 4)
    assert exact_match(predictions, references, ignore_case=True, ignore_punctuation=True) == pytest.approx(1.0)


def test_empty_references_are_refused():
    with pytest.raises(UserError, match="a reference is empty"):
        generation_scores(["x"], ["  "])


def test_stop_strings_typed_in_a_shell_are_read_as_escapes_once():
    assert unescape("\\n") == "\n" and unescape("\\t") == "\t" and unescape("a\\\\n") == "a\\n" and unescape("\\q") == "\\q"
    (parsed,) = parse_args((GenerationArguments,), ["--stop", "\\n", "END", "a\\\\n"])
    assert parsed.stop == ["\n", "END", "a\\n"], "a typed backslash-backslash-n is a backslash and an n, not a newline"
    assert GenerationArguments(stop=["\\n"]).stop == ["\\n"]  # Python strings are taken as they are
    assert GenerationArguments(stop=["\n"]).stop == ["\n"]


def test_the_sweeps_stop_flag_reads_escapes_once():
    from prompts.sweep_arguments import SweepArguments

    (sweep,) = parse_args((SweepArguments,), ["--model_name_or_path", "m", "--stop", "a\\\\n", "\\n"])
    assert sweep.stop == ["a\\n", "\n"]


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
    started = time.perf_counter()
    answers = load_script("generate").main(["--model_name_or_path", tiny_gpt2, "--prompts_file", str(prompts),
                                            "--reference_column", "completion", "--max_new_tokens", "6", "--stop", "\\n",
                                            "--output_file", str(output)])
    elapsed = time.perf_counter() - started
    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["reference"] for row in written] == ["the mat", "tree"]
    assert [row["generated_text"] for row in written] == [texts[0] for texts in answers]
    assert all("\n" not in row["generated_text"] for row in written)
    scores = json.loads((tmp_path / "predictions.scores.json").read_text())
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    lengths = [len(tokenizer(row["generated_text"], add_special_tokens=False)["input_ids"]) for row in written]
    assert scores["gen_len"] == pytest.approx(sum(lengths) / 2)
    # generating took less than the whole command, so the rate is at least the tokens over the command's time
    assert scores["generation_tokens_per_second"] >= sum(lengths) / elapsed
    assert scores["samples"] == 2
    # The report page beside the output: each answer against its reference, with its own scores.
    report = load_report(tmp_path)
    assert (tmp_path / "report.html").is_file() and report.command == "generate"
    assert [(row["p"], row["g"]) for row in report.rows] == [(row["generated_text"], row["reference"]) for row in written]
    assert all(row["s"]["exact_match"] == float(row["p"].strip() == row["g"]) for row in report.rows)


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
