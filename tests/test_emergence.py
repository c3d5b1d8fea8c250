"""The emergence lab: per-position loss, ICL score and induction scores against hand computations; tracking during
training; the induction-head experiment's bookkeeping; bad input."""

import json
from types import SimpleNamespace

import pytest
import torch

from finetune_toolkit.emergence.measures import icl_positions, icl_score, induction_scores, repeated_random_tokens, token_losses
from finetune_toolkit.emergence.tracking import phase_change_step
from finetune_toolkit.core.errors import UserError

from helpers import LM_CORPUS, load_script


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_gpt2).eval()


def test_token_losses_match_a_hand_computed_cross_entropy(gpt2):
    ids = torch.tensor([[5, 9, 13, 5, 9, 13, 7, 2], [1, 2, 3, 4, 5, 6, 7, 8]])
    losses = token_losses(gpt2, ids, batch_size=1)
    with torch.no_grad():
        logits = gpt2(input_ids=ids).logits
    for row in range(2):
        assert torch.isnan(losses[row, 0])
        for position in range(1, 8):
            log_probs = torch.log_softmax(logits[row, position - 1], -1)
            assert losses[row, position].item() == pytest.approx(-log_probs[ids[row, position]].item(), abs=1e-5)


def test_icl_score_is_the_late_tokens_loss_minus_the_early_tokens(gpt2):
    ids = torch.randint(0, 300, (3, 40), generator=torch.Generator().manual_seed(0))
    losses = token_losses(gpt2, ids).mean(0)
    score = icl_score(gpt2, ids, early=5, late=30, scale=False)
    # the 5th and 30th tokens (1-based) are at indices 4 and 29
    assert score["icl_score"] == pytest.approx((losses[29] - losses[4]).item(), abs=1e-6)
    assert (score["early_position"], score["late_position"]) == (5, 30)


def test_default_positions_scale_to_short_contexts_and_explicit_ones_beyond_it_are_refused():
    assert icl_positions(1024) == (50, 500)
    assert icl_positions(128) == (13, 128)  # 50 * 128 / 500 = 12.8
    with pytest.raises(UserError, match="ICL score position 500 is beyond the context of 128 tokens; pass --icl_late 128 or less"):
        icl_positions(128, 50, 500, scale=False)
    with pytest.raises(UserError, match="2 <= early < late"):
        icl_positions(128, 60, 40)


class _FakeAttentionModel(torch.nn.Module):
    """Head (1, 0) attends exactly to the induction target; every other head spreads attention uniformly (causal)."""

    def __init__(self, layers=2, heads=2, vocab=50):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.config = SimpleNamespace(_attn_implementation="eager", vocab_size=vocab)
        self.layers, self.heads, self.vocab = layers, heads, vocab

    def forward(self, input_ids, output_attentions=False, use_cache=False):
        length = input_ids.shape[1]
        half = length // 2
        uniform = torch.tril(torch.ones(length, length))
        uniform = uniform / uniform.sum(-1, keepdim=True)
        attentions = []
        for layer in range(self.layers):
            weights = uniform.expand(input_ids.shape[0], self.heads, length, length).clone()
            if layer == 1:
                weights[:, 0] = 0
                for query in range(length):
                    weights[:, 0, query, query - half + 1 if query >= half else query] = 1
            attentions.append(weights)
        logits = torch.zeros(input_ids.shape[0], length, self.vocab)
        logits[:, half - 1 :, :] = -10.0  # confident about the second copy: its tokens get logit 0, the rest -10
        for row in range(input_ids.shape[0]):
            for query in range(half - 1, length - 1):
                logits[row, query, input_ids[row, query + 1]] = 0.0
        return SimpleNamespace(logits=logits, attentions=tuple(attentions))


def test_prefix_matching_and_repeated_half_loss_match_a_hand_computation():
    model = _FakeAttentionModel()
    sequences = repeated_random_tokens(50, 4, lengths=(6, 10), seed=1)  # two of each length: batched by length
    scores = induction_scores(model, sequences)
    assert scores.prefix_matching[1, 0].item() == pytest.approx(1.0)
    # a uniform causal head gives query q a weight of 1 / (q + 1) on any one key: averaged over the second copies
    queries = [q for half in (6, 10) for q in range(half, 2 * half)]
    expected = sum(1 / (q + 1) for q in queries) / len(queries)
    for layer, head in ((0, 0), (0, 1), (1, 1)):
        assert scores.prefix_matching[layer, head].item() == pytest.approx(expected, rel=1e-5)
    assert scores.best_head == (1, 0)
    # first copy: uniform over 50 tokens (loss ln 50); second copy: logit 0 against 49 logits of -10
    assert scores.first_half_loss == pytest.approx(torch.log(torch.tensor(50.0)).item(), rel=1e-5)
    assert scores.repeated_half_loss == pytest.approx(torch.log1p(torch.tensor(49 * torch.exp(torch.tensor(-10.0)).item())).item(), abs=1e-6)


def test_repeated_tokens_are_two_identical_halves_of_varied_length():
    sequences = repeated_random_tokens(100, 4, lengths=(6, 9), seed=0, avoid=(0, 1))
    assert [len(s) for s in sequences] == [12, 18, 12, 18]
    for sequence in sequences:
        half = len(sequence) // 2
        assert sequence[:half].equal(sequence[half:]) and len(set(sequence[:half].tolist())) == half
        assert not {0, 1} & set(sequence.tolist())


def test_induction_scores_work_for_a_llama_and_restore_its_attention_kernel(tiny_llama):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation="sdpa").eval()
    sequences = repeated_random_tokens(model.config.vocab_size, 3, lengths=(6,), seed=0, avoid=(0, 1, 2))
    scores = induction_scores(model, sequences)
    assert model.config._attn_implementation == "sdpa"
    eager = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation="eager").eval()
    expected = torch.zeros(2, 4)
    with torch.no_grad():
        for sequence in sequences:
            attentions = eager(input_ids=sequence[None], output_attentions=True).attentions
            for layer in range(2):
                for head in range(4):  # 4 query heads sharing 2 key/value heads
                    for query in range(6, 12):
                        expected[layer, head] += attentions[layer][0, head, query, query - 6 + 1] / 18
    assert torch.allclose(scores.prefix_matching, expected, atol=1e-5)


def test_a_model_without_attention_outputs_is_refused():
    class NoAttentions(_FakeAttentionModel):
        def forward(self, input_ids, output_attentions=False, use_cache=False):
            return SimpleNamespace(logits=torch.zeros(1, input_ids.shape[1], self.vocab), attentions=None)

    with pytest.raises(UserError, match="returns no attention weights"):
        induction_scores(NoAttentions(), repeated_random_tokens(50, 1))


def test_the_phase_change_is_the_largest_rise_of_the_induction_score():
    records = [{"step": s, "best_prefix_matching": v} for s, v in ((0, 0.05), (50, 0.07), (100, 0.45), (150, 0.8), (200, 0.82))]
    assert phase_change_step(records) == 100
    assert phase_change_step(records[:1]) is None
    assert phase_change_step([{"step": s, "best_prefix_matching": 0.05 + 0.01 * s} for s in range(5)]) is None  # drift


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "train.txt").write_text("\n".join(LM_CORPUS * 3) + "\n")
    (tmp_path / "validation.txt").write_text("\n".join(LM_CORPUS[:12]) + "\n")
    return tmp_path


def test_track_icl_records_every_n_steps_and_plots(tiny_gpt2, corpus, tmp_path):
    output_dir = tmp_path / "tracked"
    argv = ["--model_name_or_path", tiny_gpt2, "--train_file", str(corpus / "train.txt"), "--validation_file",
            str(corpus / "validation.txt"), "--block_size", "32", "--do_train", "--do_eval", "--max_steps", "12",
            "--per_device_train_batch_size", "4", "--output_dir", str(output_dir), "--report_to", "none",
            "--save_strategy", "no", "--track_icl", "--track_icl_steps", "5"]
    load_script("finetune_lm").main(argv)
    records = [json.loads(line) for line in (output_dir / "icl_tracking.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 5, 10, 12]
    assert all((r["early_position"], r["late_position"]) == (3, 32) for r in records)  # 50 and 500 scaled to 32 tokens
    assert records[-1]["loss"] < records[0]["loss"]
    assert len(records[0]["prefix_matching"]) == 2 and len(records[0]["prefix_matching"][0]) == 2
    assert (output_dir / "icl_tracking.png").stat().st_size > 10_000


@pytest.mark.parametrize("flags, message", [
    (["--track_icl", "--icl_late", "500"], "ICL score position 500 is beyond the context of 32 tokens"),
    (["--track_icl", "--track_icl_steps", "0"], "--track_icl_steps must be at least 1, got 0"),
])
def test_bad_tracking_options_are_refused_before_anything_is_written(flags, message, tiny_gpt2, corpus, tmp_path):
    argv = ["--model_name_or_path", tiny_gpt2, "--train_file", str(corpus / "train.txt"), "--validation_file",
            str(corpus / "validation.txt"), "--block_size", "32", "--do_train", "--do_eval", "--max_steps", "2",
            "--output_dir", str(tmp_path / "out"), "--report_to", "none", *flags]
    with pytest.raises(UserError, match=message):
        load_script("finetune_lm").main(argv)
    assert not (tmp_path / "out").exists()


def test_the_experiment_trains_tracks_and_resumes(tmp_path):
    argv = ["--output_dir", str(tmp_path / "lab"), "--layers", "1", "2", "--max_steps", "6", "--track_every", "3",
            "--batch_size", "4", "--n_embd", "16", "--vocab_size", "40", "--block_size", "40"]
    rows = load_script("emergence").main(argv)
    assert [row["layers"] for row in rows] == [1, 2] and all(row["steps"] == 6 for row in rows)
    assert rows[1]["parameters"] > rows[0]["parameters"]
    assert (tmp_path / "lab" / "emergence.png").is_file() and (tmp_path / "lab" / "2-layer" / "icl_tracking.png").is_file()
    from finetune_toolkit.report import load_report

    report = load_report(tmp_path / "lab")  # the page: both models' rows and every plot; no per-example predictions
    assert (tmp_path / "lab" / "report.html").is_file() and [row[report.tables[0].columns.index("layers")] for row in report.tables[0].rows] == ["1", "2"]
    assert {path.name for path in report.figures} == {"emergence.png", "icl_tracking.png"} and len(report.figures) == 3
    assert report.runs == [] and "no per-example predictions" in report.notes[0]
    assert load_script("emergence").main(argv) == rows  # finished models are read back, not trained again
    with pytest.raises(UserError, match="holds an experiment with other settings"):
        load_script("emergence").main(argv + ["--attention_only"])
    (tmp_path / "lab" / "1-layer" / "emergence.json").write_text('{"forged": true}')
    again = load_script("emergence").main(argv + ["--overwrite_output_dir"])  # starts over: nothing read back
    assert again[0]["layers"] == 1 and "forged" not in again[0]


@pytest.mark.parametrize("flags, message", [
    (["--max_steps", "0"], "--max_steps must be at least 1, got 0"),
    (["--layers", "0"], "--layers must list layer counts of at least 1"),
    (["--block_size", "30"], "--block_size 30 must hold two copies of the longest span; pass at least 40"),
    (["--n_embd", "30", "--n_head", "4"], "--n_embd 30 is not divisible by --n_head 4"),
])
def test_bad_experiment_options_are_refused(flags, message, tmp_path):
    with pytest.raises(UserError, match=message):
        load_script("emergence").main(["--output_dir", str(tmp_path / "lab"), *flags])
    assert not (tmp_path / "lab").exists()


def test_attention_only_models_have_no_mlp_weights_that_matter():
    from finetune_toolkit.emergence.experiment import EmergenceArguments, build_model

    model = build_model(2, EmergenceArguments(output_dir="unused", attention_only=True, n_embd=16, vocab_size=40, block_size=40))
    hidden = torch.randn(1, 3, 16)
    assert model.transformer.h[0].mlp(hidden).abs().sum() == 0
    assert not any("mlp" in name for name, _ in model.named_parameters())


# --- the mirage check: discontinuous and continuous metrics of the same predictions ---------------------------

def test_token_edit_distance_by_hand():
    from finetune_toolkit.core.metrics import token_edit_distance

    assert token_edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert token_edit_distance([1, 2, 3], [1, 3]) == 1  # one deletion
    assert token_edit_distance([4, 2, 3], [1, 2, 5]) == 2  # two substitutions
    assert token_edit_distance([], [7, 8]) == 2


def test_continuous_scores_by_hand():
    from prompts.run_types import FewShotPredictions
    from prompts.fewshot_metrics import continuous_scores

    scored = FewShotPredictions(predictions=[1, 0], probabilities=[[0.2, 0.8], [0.6, 0.4]], demonstrations=[[], []],
                                label_log_probs=[[-3.0, -1.0], [-2.0, -4.0]], calibrated_probabilities=[[0.5, 0.5], [0.3, 0.7]])
    assert continuous_scores(scored, [1, 1]) == pytest.approx({"correct_answer_log_prob": -2.5, "correct_label_prob": 0.6})
    assert continuous_scores(scored, [1, 1], calibrated=True) == pytest.approx({"correct_label_prob": 0.6})
    generated = FewShotPredictions(predictions=[1, -1], probabilities=None, demonstrations=[[], []], answers=[" good", "good!!"],
                                   answer_tokens=[[5], [5, 9, 9]], label_word_tokens=[[4], [5]], label_words=["bad", "good"])
    assert continuous_scores(generated, [1, 0]) == pytest.approx({"token_edit_distance": 1.5, "exact_match": 0.5})


def test_the_correct_answer_log_prob_is_the_models_log_probability_of_the_label_word(fewshot_gpt2):
    from prompts import FewShotClassifier, FewShotConfig, load_template
    from prompts.fewshot_metrics import continuous_scores
    from finetune_toolkit.core.causal_lm import load_generator

    model, tokenizer = load_generator(fewshot_gpt2)
    template = load_template("sentiment")
    texts, labels = ["the film was good", "a dull plot"], [1, 0]
    result = FewShotClassifier(model, tokenizer, template, None, FewShotConfig(progress=False)).predict(texts)
    expected = 0.0
    for text, label in zip(texts, labels):
        prompt = tokenizer(template.render_prompt({"text": text}))["input_ids"]
        word = tokenizer(template.render_prompt({"text": text}) + " " + template.verbalizer.word(label))["input_ids"][len(prompt):]
        with torch.no_grad():
            log_probs = torch.log_softmax(model(input_ids=torch.tensor([prompt + word])).logits[0], -1)
        expected += sum(log_probs[len(prompt) - 1 + i, token].item() for i, token in enumerate(word)) / len(texts)
    assert continuous_scores(result, labels)["correct_answer_log_prob"] == pytest.approx(expected, abs=1e-4)


def zero_shot_measures_by_hand(model_dir: str, validation_file: str) -> dict:
    """Mean log-probability of the correct label word, mean probability of the correct label among the labels, and
    accuracy, 0-shot with the `sentiment` template: one forward pass per example and label word."""
    from prompts import load_template
    from finetune_toolkit.core.causal_lm import load_generator

    model, tokenizer = load_generator(model_dir)
    template = load_template("sentiment")
    rows = [json.loads(line) for line in open(validation_file)]
    log_prob_sum = prob_sum = correct = 0.0
    for row in rows:
        prompt_text = template.render_prompt({"text": row["text"]})
        prompt = tokenizer(prompt_text)["input_ids"]
        label_log_probs = []
        for label in range(2):
            word = tokenizer(prompt_text + " " + template.verbalizer.word(label))["input_ids"][len(prompt):]
            with torch.no_grad():
                log_probs = torch.log_softmax(model(input_ids=torch.tensor([prompt + word])).logits[0].float(), -1)
            label_log_probs.append(sum(log_probs[len(prompt) - 1 + i, token].item() for i, token in enumerate(word)))
        probabilities = torch.softmax(torch.tensor(label_log_probs), 0)
        log_prob_sum += label_log_probs[row["label"]]
        prob_sum += probabilities[row["label"]].item()
        correct += int(probabilities.argmax().item() == row["label"])
    return {"correct_answer_log_prob": log_prob_sum / len(rows), "correct_label_prob": prob_sum / len(rows),
            "accuracy": correct / len(rows)}


def test_a_sweep_over_model_sizes_reports_and_plots_both_kinds_of_metric(fewshot_gpt2, tiny_llama, fewshot_files, tmp_path):
    rows = load_script("fewshot").main(["--model_name_or_path", fewshot_gpt2, tiny_llama, "--train_file", fewshot_files["train"],
                                        "--validation_file", fewshot_files["validation"], "--shots", "0", "1",
                                        "--output_dir", str(tmp_path / "sweep")])
    assert len({row["parameters"] for row in rows}) == 2 and {row["model"] for row in rows} == {fewshot_gpt2, tiny_llama}
    for model_dir in (fewshot_gpt2, tiny_llama):  # the 0-shot row of each model against forward passes by hand
        (row,) = [row for row in rows if row["model"] == model_dir and row["shots"] == 0 and not row["calibrated"]]
        expected = zero_shot_measures_by_hand(model_dir, fewshot_files["validation"])
        assert row["correct_answer_log_prob"] == pytest.approx(expected["correct_answer_log_prob"], abs=1e-4)
        assert row["correct_label_prob"] == pytest.approx(expected["correct_label_prob"], abs=1e-5)
        assert row["accuracy"] == pytest.approx(expected["accuracy"])
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    for entry in summary:  # what the plot draws: the mean over the runs of each model and shot count
        runs = [row for row in rows if row["model"] == entry["model"] and row["shots"] == entry["shots"]]
        assert entry["accuracy_mean"] == pytest.approx(sum(row["accuracy"] for row in runs) / len(runs))
        assert entry["correct_answer_log_prob_mean"] == pytest.approx(sum(row["correct_answer_log_prob"] for row in runs) / len(runs))
    import matplotlib.image

    image = matplotlib.image.imread(tmp_path / "sweep" / "accuracy_vs_model_size.png")
    assert image.shape[0] > 200 and image.shape[1] > 400 and image.std() > 0.05  # a real picture, not a blank page


def test_prefix_matching_of_a_real_gpt2_matches_its_attention_weights_read_by_hand(gpt2):
    sequences = repeated_random_tokens(gpt2.config.vocab_size, 2, lengths=(7,), seed=3)
    scores = induction_scores(gpt2, sequences)
    gpt2.set_attn_implementation("eager")
    expected = torch.zeros(2, 2)
    with torch.no_grad():
        for sequence in sequences:
            attentions = gpt2(input_ids=sequence[None], output_attentions=True).attentions
            for layer in range(2):
                for head in range(2):
                    for query in range(7, 14):  # the second copy; its token first appeared at query - 7
                        expected[layer, head] += attentions[layer][0, head, query, query - 7 + 1] / 14
    gpt2.set_attn_implementation("sdpa")
    assert torch.allclose(scores.prefix_matching, expected, atol=1e-6)


@pytest.mark.slow
def test_an_experiment_killed_mid_training_resumes_to_the_same_records(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from helpers import ROOT

    def command(output_dir):
        return [sys.executable, str(ROOT / "scripts" / "emergence.py"), "--output_dir", str(output_dir), "--layers", "2",
                "--max_steps", "300", "--track_every", "50", "--batch_size", "8", "--n_embd", "16", "--vocab_size", "40",
                "--block_size", "40"]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command(tmp_path / "whole"), check=True, capture_output=True, cwd=ROOT, env=env, timeout=600)
    process = subprocess.Popen(command(tmp_path / "killed"), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    checkpoint = tmp_path / "killed" / "2-layer" / "checkpoint-200" / "trainer_state.json"
    deadline = time.time() + 300
    while not checkpoint.exists() and process.poll() is None:
        assert time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed" / "2-layer" / "emergence.json").exists(), "the kill came too late to test anything"
    subprocess.run(command(tmp_path / "killed"), check=True, capture_output=True, cwd=ROOT, env=env, timeout=600)

    def records(directory):
        return [json.loads(line) for line in (directory / "2-layer" / "icl_tracking.jsonl").read_text().splitlines()]

    whole, resumed = records(tmp_path / "whole"), records(tmp_path / "killed")
    assert [r["step"] for r in resumed] == [0, 50, 100, 150, 200, 250, 300]
    assert [r["step"] for r in whole] == [r["step"] for r in resumed]
    for before, after in zip(whole, resumed):
        assert after["repeated_half_loss"] == pytest.approx(before["repeated_half_loss"], abs=1e-5)
        assert after["best_prefix_matching"] == pytest.approx(before["best_prefix_matching"], abs=1e-5)


# --- head ablation and Olsson's 2-layer attention-only result ---------------------------------------------------

def test_ablating_a_head_equals_zeroing_its_slice_of_the_output_projection_and_is_undone_after(gpt2):
    import copy

    from finetune_toolkit.emergence.measures import ablate_heads

    ids = torch.randint(0, 300, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = gpt2(input_ids=ids).logits
        with ablate_heads(gpt2, [(1, 0)]):
            ablated = gpt2(input_ids=ids).logits
        after = gpt2(input_ids=ids).logits
        by_hand = copy.deepcopy(gpt2)
        width = gpt2.config.n_embd // gpt2.config.n_head
        by_hand.transformer.h[1].attn.c_proj.weight[:width] = 0  # Conv1D weight is [in, out]: head 0's input rows
        expected = by_hand(input_ids=ids).logits
    assert torch.equal(after, before)  # the hook is gone: identical logits
    assert torch.allclose(ablated, expected, atol=1e-5) and not torch.allclose(ablated, before, atol=1e-3)


def test_ablating_a_llama_head_zeroes_its_columns_of_o_proj(tiny_llama):
    import copy

    from transformers import AutoModelForCausalLM

    from finetune_toolkit.emergence.measures import ablate_heads

    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    ids = torch.randint(3, 100, (1, 10), generator=torch.Generator().manual_seed(1))
    width = model.config.hidden_size // model.config.num_attention_heads
    with torch.no_grad():
        with ablate_heads(model, [(0, 3), (1, 1)]):
            ablated = model(input_ids=ids).logits
        by_hand = copy.deepcopy(model)
        by_hand.model.layers[0].self_attn.o_proj.weight[:, 3 * width : 4 * width] = 0  # Linear weight is [out, in]
        by_hand.model.layers[1].self_attn.o_proj.weight[:, width : 2 * width] = 0
        assert torch.allclose(ablated, by_hand(input_ids=ids).logits, atol=1e-5)
    with pytest.raises(UserError, match="no head 9 in layer 0"):
        with ablate_heads(model, [(0, 9)]):
            pass


@pytest.mark.slow
@pytest.mark.learning
def test_a_two_layer_attention_only_model_forms_an_induction_head_and_a_one_layer_model_does_not(tmp_path):
    # Olsson et al. 2022's canonical case, with the lab's defaults but fewer steps (the head forms by step ~400).
    rows = load_script("emergence").main(["--output_dir", str(tmp_path / "lab"), "--attention_only", "--layers", "1", "2",
                                          "--max_steps", "700", "--track_every", "100"])
    one, two = rows
    assert not one["induction_head"] and one["best_prefix_matching"] < 0.3
    assert two["induction_head"] and two["best_prefix_matching"] >= 0.7
    assert two["repeated_half_loss"] < two["first_half_loss"] / 10
    # Ablating the induction heads destroys the copying: the repeated half is no easier than the first.
    assert two["repeated_half_loss_induction_heads_ablated"] > 0.8 * two["first_half_loss"]
    assert two["repeated_half_loss_induction_heads_ablated"] > 3 * two["repeated_half_loss_other_heads_ablated_mean"]
    losses = [json.loads(line) for line in (tmp_path / "lab" / "2-layer-attn-only" / "training_loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses][:3] == [10, 20, 30] and losses[-1]["loss"] < losses[0]["loss"] - 2
