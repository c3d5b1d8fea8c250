"""The model-size ladder: the addition task, the measures of multi-token answers and sharpness against hand
computations, the ladder's bookkeeping (files, read-back, seeds) and bad input."""

import json

import pytest
import torch

from finetune_toolkit.emergence.addition import addition_splits, addition_tokenizer, answer_length, prompt_length
from finetune_toolkit.emergence.answer_metrics import answer_log_probs, answer_scores, greedy_answers, sharpness
from finetune_toolkit.core.errors import UserError

from helpers import load_script


def test_sharpness_is_the_largest_neighbouring_step_over_the_whole_rise():
    assert sharpness([0.0, 0.0, 0.1, 0.9, 1.0]) == pytest.approx(0.8)
    assert sharpness([0.0, 0.25, 0.5, 0.75, 1.0]) == pytest.approx(0.25)  # an even rise: 1 / (n - 1)
    assert sharpness([4.0, 3.0, 1.0, 0.5], higher_is_better=False) == pytest.approx(2.0 / 3.5)  # edit distance falls
    assert sharpness([0.0, 1.0, 0.5]) == pytest.approx(2.0)  # overshoot: above 1
    assert sharpness([0.5, 0.7, 0.4]) is None  # the largest model is worse than the smallest: nothing emerged
    assert sharpness([1.0, 1.0]) is None and sharpness([0.3]) is None


def test_answer_scores_by_hand():
    correct = torch.tensor([[0, 6, 2, 3], [0, 6, 3, 2], [1, 3, 7, 4]])
    predicted = torch.tensor([[0, 6, 2, 3], [0, 6, 2, 4], [1, 3, 7, 4]])
    log_probs = torch.tensor([[-0.1, -0.2, -0.3, -0.4], [-1.0, -1.0, -2.0, -2.0], [0.0, 0.0, 0.0, -0.6]])
    scores = answer_scores(predicted, correct, log_probs)
    assert scores["exact_match"] == pytest.approx(2 / 3)
    assert scores["token_accuracy"] == pytest.approx(10 / 12)
    assert scores["token_edit_distance"] == pytest.approx(2 / 3)  # 0623 -> 0624 -> needs two edits to become 0632
    assert scores["correct_answer_log_prob"] == pytest.approx((-1.0 - 6.0 - 0.6) / 3)
    assert scores["correct_answer_token_log_prob"] == pytest.approx(-7.6 / 12)


@pytest.fixture(scope="module")
def random_model():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=13, n_positions=16, n_embd=16, n_layer=2, n_head=2)).eval()


def test_greedy_answers_equal_transformers_greedy_generation(random_model):
    _, heldout = addition_splits(10, 20, 3, seed=0)
    prompts = heldout[:, : prompt_length(3)]
    ours = greedy_answers(random_model, prompts, answer_length(3))
    theirs = random_model.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=4, min_new_tokens=4,
                                   do_sample=False, pad_token_id=12)[:, prompts.shape[1]:]
    assert torch.equal(ours, theirs)


def test_answer_log_probs_are_each_tokens_log_probability_given_its_prefix(random_model):
    _, heldout = addition_splits(10, 5, 2, seed=1)
    log_probs = answer_log_probs(random_model, heldout, prompt_length(2))
    for row in range(5):
        for index in range(answer_length(2)):
            end = prompt_length(2) + index
            with torch.no_grad():
                logits = random_model(input_ids=heldout[row : row + 1, :end]).logits[0, -1]
            expected = torch.log_softmax(logits, -1)[heldout[row, end]]
            assert log_probs[row, index].item() == pytest.approx(expected.item(), abs=1e-5)


def test_addition_rows_are_true_sums_and_held_out_problems_are_never_trained_on():
    train, heldout = addition_splits(5000, 300, 2, seed=3)
    tokenizer = addition_tokenizer()
    for row in torch.cat([train[:50], heldout[:50]]):
        text = tokenizer.decode(row.tolist())
        problem, answer = text.split("=")
        first, second = problem.split("+")
        assert len(first) == len(second) == 2 and answer == f"{int(first) + int(second):03d}"
    as_problems = {tuple(r.tolist()) for r in heldout}
    assert len(as_problems) == 300 and not as_problems & {tuple(r.tolist()) for r in train}
    assert not torch.equal(addition_splits(100, 10, 2, seed=4)[0], addition_splits(100, 10, 2, seed=5)[0])
    assert torch.equal(addition_splits(100, 10, 2, seed=4)[0], addition_splits(100, 10, 2, seed=4)[0])


TINY = ["--sizes", "1x8", "1x16", "--max_steps", "4", "--batch_size", "8", "--heldout_problems", "20", "--digits", "2",
        "--context_length", "9", "--head_width", "8"]


def gpt2_parameters(vocab: int, positions: int, width: int, layers: int) -> int:
    """GPT-2's parameter count by hand: token and position embeddings, per block two LayerNorms (2d each), attention
    (3d x d + 3d, d x d + d) and MLP (4d x d + 4d, d x 4d + d), the final LayerNorm; the output layer is tied."""
    return vocab * width + positions * width + layers * (12 * width**2 + 13 * width) + 2 * width


def exact_match_by_generate(model_dir, heldout: torch.Tensor, prompt_tokens: int) -> float:
    """Exact match of Transformers' own greedy generation from the saved model: independent of the toolkit's scorer."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    prompts, answers = heldout[:, :prompt_tokens], heldout[:, prompt_tokens:]
    generated = model.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=answers.shape[1],
                               do_sample=False, pad_token_id=-1)[:, prompt_tokens:]
    return (generated == answers).all(dim=1).float().mean().item()


def test_the_ladder_writes_its_table_and_plot_and_reads_finished_sizes_back(tmp_path):
    argv = ["--output_dir", str(tmp_path / "ladder"), *TINY]
    load_script("scaling").main(argv)
    written = json.loads((tmp_path / "ladder" / "scaling.json").read_text())
    assert (tmp_path / "ladder" / "scaling.png").stat().st_size > 0
    assert [row["size"] for row in written["models"]] == ["1x8", "1x16"]
    # 13 symbols, 9 positions: 1x8 and 1x16 by hand
    assert [row["parameters"] for row in written["models"]] == [gpt2_parameters(13, 9, 8, 1), gpt2_parameters(13, 9, 16, 1)] == [1064, 3664]
    _, heldout = addition_splits(4 * 8, 20, 2, seed=0)
    for row in written["models"]:
        assert row["exact_match"] == pytest.approx(exact_match_by_generate(tmp_path / "ladder" / row["size"], heldout, 6))
    from finetune_toolkit.report import load_report

    report = load_report(tmp_path / "ladder")  # each size's answers to the held-out problems
    assert [run["name"] for run in report.runs] == ["1x8", "1x16"] and [run["examples"] for run in report.runs] == [20, 20]
    for run_id, row in enumerate(written["models"]):
        answers = [page_row for page_row in report.rows if page_row["r"] == run_id]
        assert sum(page_row["ok"] for page_row in answers) / 20 == pytest.approx(row["exact_match"])
    small, large = written["models"]
    for metric, higher_is_better in (("exact_match", True), ("token_accuracy", True), ("token_edit_distance", False),
                                     ("correct_answer_log_prob", True)):
        rise = (large[metric] - small[metric]) * (1 if higher_is_better else -1)
        # two sizes: all of the rise is in the one step between them, or there is no rise to measure
        assert written["sharpness"][metric] == (1.0 if rise > 0 else None), metric
    (tmp_path / "ladder" / "1x8" / "scaling_row.json").write_text(json.dumps({**small, "exact_match": 0.5}))
    again = load_script("scaling").main(argv)
    assert again["models"][0]["exact_match"] == 0.5  # read back, not trained again
    with pytest.raises(UserError, match="holds a ladder with other settings"):
        load_script("scaling").main(argv + ["--seed", "1"])
    overwritten = load_script("scaling").main(argv + ["--seed", "1", "--overwrite_output_dir"])
    elsewhere = load_script("scaling").main(["--output_dir", str(tmp_path / "fresh"), *TINY, "--seed", "1"])
    timing = "train_seconds_this_run"
    assert [{k: v for k, v in row.items() if k != timing} for row in overwritten["models"]] == \
        [{k: v for k, v in row.items() if k != timing} for row in elsewhere["models"]]
    assert overwritten["settings"]["seed"] == 1


def test_a_trained_rung_loads_in_a_text_generation_pipeline(tmp_path):
    from transformers import pipeline

    load_script("scaling").main(["--output_dir", str(tmp_path / "ladder"), *TINY])
    generator = pipeline("text-generation", model=str(tmp_path / "ladder" / "1x16"))
    text = generator("12+34=", max_new_tokens=3, do_sample=False)[0]["generated_text"]
    assert text.startswith("12+34=") and len(text) == 9


@pytest.mark.parametrize("flags, message", [
    (["--sizes", "0x16", "1x16"], "model size '0x16' has zero layers or width"),
    (["--sizes", "2x32", "1x16"], "the ladder must grow: 1x16"),
    (["--sizes", "2x32", "2x32"], "the ladder must grow"),
    (["--sizes", "big"], "model size 'big' is not LAYERSxWIDTH"),
    (["--digits", "5"], "a 5-digit problem and its answer take 18 tokens, more than --context_length 16"),
    (["--max_steps", "0"], "--max_steps must be at least 1, got 0"),
])
def test_bad_ladders_are_refused_before_anything_is_written(flags, message, tmp_path):
    with pytest.raises(UserError, match=message):
        load_script("scaling").main(["--output_dir", str(tmp_path / "ladder"), *flags])
    assert not (tmp_path / "ladder").exists()


@pytest.mark.learning
def test_a_two_layer_model_learns_two_digit_addition_exactly(tmp_path):
    result = load_script("scaling").main(["--output_dir", str(tmp_path / "ladder"), "--sizes", "2x64", "--digits", "2",
                                          "--max_steps", "600", "--heldout_problems", "200"])
    row = result["models"][0]
    assert row["exact_match"] >= 0.9 and row["token_accuracy"] >= 0.95


def test_the_fewshot_sweep_scores_the_ladder_with_the_same_exact_match(tmp_path):
    """Two parts of the toolkit agree: the ladder's own exact match per model, and a 0-shot generation sweep over the
    ladder's saved models on the held-out problems it wrote."""
    ladder = load_script("scaling").main(["--output_dir", str(tmp_path / "ladder"), *TINY])
    template = tmp_path / "addition.yaml"
    template.write_text('type: generation\ndemonstration: "{problem}{label}"\nmax_new_tokens: 3\n')
    models = [str(tmp_path / "ladder" / row["size"]) for row in ladder["models"]]
    rows = load_script("fewshot").main(["--model_name_or_path", *models, "--template", str(template), "--shots", "0",
                                        "--validation_file", str(tmp_path / "ladder" / "heldout.jsonl"),
                                        "--output_dir", str(tmp_path / "sweep")])
    assert [row["parameters"] for row in rows] == [row["parameters"] for row in ladder["models"]]
    assert [row["exact_match"] for row in rows] == pytest.approx([row["exact_match"] for row in ladder["models"]])
    assert (tmp_path / "sweep" / "exact_match_vs_model_size.png").stat().st_size > 1000


def test_a_ladder_over_seeds_reports_the_mean_and_std_of_each_size(tmp_path):
    result = load_script("scaling").main(["--output_dir", str(tmp_path / "ladder"), *TINY, "--num_seeds", "2"])
    runs = result["runs"]
    assert list(runs) == ["seed0", "seed1"] and (tmp_path / "ladder" / "seed1" / "1x16" / "scaling_row.json").is_file()
    for index, row in enumerate(result["models"]):
        values = [runs[seed][index]["token_edit_distance"] for seed in runs]
        assert row["token_edit_distance"] == pytest.approx(sum(values) / 2)
        assert row["token_edit_distance_std"] == pytest.approx(abs(values[0] - values[1]) / 2 ** 0.5)  # stdev of two
        assert row["seeds"] == 2
    assert set(result["sharpness_per_seed"]) == {"seed0", "seed1"}
    single = load_script("scaling").main(["--output_dir", str(tmp_path / "one"), *TINY, "--seed", "1"])
    timing = "train_seconds_this_run"
    assert [{k: v for k, v in row.items() if k != timing} for row in runs["seed1"]] == \
        [{k: v for k, v in row.items() if k != timing} for row in single["models"]]  # seed 1 of two is seed 1 alone
