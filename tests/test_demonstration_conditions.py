"""Demonstration conditions (Min et al. 2022, Wei et al. 2023) and order studies (Lu et al. 2022): what prompts show,
checked against hand computations and independent scorers; consistency against scikit-learn; bad input."""

import csv
import itertools
import json
import random
import subprocess
import sys

import pytest
import torch

from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.prefixes import PrefixStore, common_prefix_length
from prompts import FewShotClassifier, FewShotConfig, LabelledExamples, load_template
from prompts.consistency import cohen_kappa
from prompts.demonstrations import DemonstrationCondition, DemonstrationView, kept_correct
from prompts.order_study import order_permutations
from prompts.plain_scoring import plain_label_scores

from helpers import load_script

fewshot = load_script("fewshot")
TEXTS = [f"review {i}: the film was {'good' if i % 2 else 'dull'} and {'fun' if i % 3 else 'long'}" for i in range(40)]


def pool_of(labels, classes=2):
    return LabelledExamples([{"text": t} for t in TEXTS[: len(labels)]], list(labels))


@pytest.mark.parametrize("fraction", [0, 0.25, 0.5, 0.75, 1])
@pytest.mark.parametrize("shots", [1, 2, 3, 4, 8])
def test_a_share_of_correct_labels_keeps_exactly_round_p_k_gold_labels_in_every_prompt(fraction, shots):
    template = load_template("sentiment")
    pool = pool_of([i % 2 for i in range(40)])
    for seed in range(30):
        view = DemonstrationView(template, pool, DemonstrationCondition("gold", fraction), seed)
        chosen = random.Random(seed).sample(range(40), shots)
        shown = view.shown_labels(chosen)
        correct = sum(s == pool.labels[i] for s, i in zip(shown, chosen))
        assert correct == int(fraction * shots + 0.5) == kept_correct(fraction, shots)
        assert shown == view.shown_labels(chosen), "deterministic per seed and set"


def test_flipped_swaps_two_labels_and_shifts_more_classes_by_one():
    template = load_template("sentiment")
    pool = pool_of([0, 1, 1, 0])
    assert DemonstrationView(template, pool, DemonstrationCondition("flipped"), 0).shown_labels([0, 1, 2, 3]) == [1, 0, 0, 1]
    topics = load_template("topic")
    classes = topics.verbalizer.num_labels
    pool = LabelledExamples([{"text": t} for t in TEXTS[:8]], [i % classes for i in range(8)])
    shown = DemonstrationView(topics, pool, DemonstrationCondition("flipped"), 0).shown_labels(list(range(8)))
    assert shown == [(i % classes + 1) % classes for i in range(8)]


def test_random_labels_are_uniform_over_the_label_set_and_the_same_for_every_order_of_a_set():
    template = load_template("sentiment")
    pool = pool_of([1] * 40)
    view = DemonstrationView(template, pool, DemonstrationCondition("random"), 3)
    counts = [0, 0]
    for seed in range(200):
        for label in DemonstrationView(template, pool, DemonstrationCondition("random"), seed).shown_labels([0, 1, 2, 3]):
            counts[label] += 1
    assert 0.4 < counts[0] / 800 < 0.6
    by_demo = dict(zip([0, 1, 2, 3], view.shown_labels([0, 1, 2, 3])))
    for order in itertools.permutations([0, 1, 2, 3]):
        assert view.shown_labels(list(order)) == [by_demo[i] for i in order]


def test_conditions_change_the_demonstrations_only_and_predictions_record_what_was_shown(fewshot_gpt2):
    model, tokenizer = load_generator(fewshot_gpt2)
    template = load_template("sentiment")
    pool = pool_of([0, 1, 0, 1, 1, 0])
    queries = LabelledExamples([{"text": "a fine film"}, {"text": "a dull plot"}], [1, 0])
    base = dict(shots=4, selection="first_n", progress=False)
    gold = FewShotClassifier(model, tokenizer, template, pool, FewShotConfig(**base)).predict(queries)
    flipped = FewShotClassifier(model, tokenizer, template, pool, FewShotConfig(**base, demo_labels="flipped")).predict(queries)
    assert gold.example_prompt.count("Sentiment: negative") == 2 and flipped.example_prompt.count("Sentiment: positive") == 2
    assert gold.example_prompt.endswith(flipped.example_prompt.split("\n\n")[-1]), "the query is the same"
    assert flipped.shown_labels[0] == [1, 0, 1, 0] and gold.shown_labels[0] == [0, 1, 0, 1]
    unrelated = FewShotClassifier(model, tokenizer, template, pool, FewShotConfig(
        **base, demo_labels="unrelated", unrelated_label_words=("foo", "bar"))).predict(queries)
    assert "Sentiment: foo" in unrelated.example_prompt and "Sentiment: bar" in unrelated.example_prompt
    assert "negative" not in unrelated.example_prompt
    # The query is scored on the unrelated words: its probabilities are those of " foo" and " bar" after the prompt.
    ids = tokenizer(unrelated.example_prompt)["input_ids"]
    words = [[tokenizer(" foo", add_special_tokens=False)["input_ids"]], [tokenizer(" bar", add_special_tokens=False)["input_ids"]]]
    expected = torch.softmax(plain_label_scores(model, [ids], words)[0], 0)
    assert unrelated.probabilities[0] == pytest.approx(expected.tolist(), abs=1e-4)
    inputs_only = FewShotClassifier(model, tokenizer, template, pool, FewShotConfig(**base, demo_format="inputs_only")).predict(queries)
    assert inputs_only.example_prompt.startswith("Review: " + TEXTS[0] + "\nSentiment:\n\n")
    labels_only = FewShotClassifier(model, tokenizer, template, pool, FewShotConfig(**base, demo_format="labels_only")).predict(queries)
    assert labels_only.example_prompt.startswith("negative\n\npositive\n\nnegative\n\npositive\n\nReview: a fine film")
    ood = FewShotClassifier(model, tokenizer, template, pool, FewShotConfig(
        **base, demo_format="ood_inputs", ood_texts=["alpha beta", "gamma delta", "epsilon", "zeta eta", "theta"])).predict(queries)
    assert "review 0" not in ood.example_prompt and ood.example_prompt.count("Sentiment: negative") == 2


def test_every_order_scores_as_its_full_prompt_on_the_plain_path_and_each_distinct_prefix_is_computed_once(fewshot_gpt2):
    model, tokenizer = load_generator(fewshot_gpt2)
    template = load_template("sentiment")
    pool = pool_of([0, 1, 0, 1])
    queries = ["a fine film", "a dull plot", "the cast was good"]
    store = PrefixStore()
    prefixes = []
    for order in order_permutations(4, "all", 0):
        config = FewShotConfig(shots=4, selection="first_n", demo_order=order, prefix_store=store, progress=False)
        classifier = FewShotClassifier(model, tokenizer, template, pool, config)
        result = classifier.predict(queries)
        prompts = [tokenizer(classifier.render({"text": q}, result.demonstrations[i]))["input_ids"] for i, q in enumerate(queries)]
        assert result.demonstrations[0] == [list(range(4))[i] for i in order]
        plain = torch.softmax(plain_label_scores(model, prompts, classifier.continuations), -1)
        assert torch.allclose(torch.tensor(result.probabilities), plain, atol=1e-4)
        prefixes.append(tuple(prompts[0][: min(common_prefix_length(prompts), min(map(len, prompts)) - 1)]))
    # A prefix tree over the 24 prefixes: each node is a token position computed once.
    nodes = {prefix[:length] for prefix in prefixes for length in range(1, len(prefix) + 1)}
    assert store.computed_tokens == len(nodes) < 0.7 * sum(map(len, prefixes))


def test_cohen_kappa_equals_scikit_learns():
    from sklearn.metrics import cohen_kappa_score

    rng = random.Random(0)
    for _ in range(50):
        n = rng.randrange(5, 60)
        a = [rng.randrange(3) for _ in range(n)]
        b = [x if rng.random() < 0.6 else rng.randrange(3) for x in a]
        if len(set(a)) == len(set(b)) == 1 and a == b:
            continue
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_a_sweep_over_conditions_and_orders_writes_the_spread_consistency_and_plots(fewshot_gpt2, fewshot_files, tmp_path, capsys):
    output = tmp_path / "run"
    rows = fewshot.main(["--model_name_or_path", fewshot_gpt2, "--train_file", fewshot_files["train"], "--validation_file",
                         fewshot_files["validation"], "--shots", "0", "3", "--seeds", "0", "1", "--selection", "random",
                         "--demo_labels", "gold", "flipped", "--correct_fraction", "0.5", "--orders", "all",
                         "--max_eval_samples", "8", "--output_dir", str(output)])
    runs = [row for row in rows if row["shots"] == 3 and not row["calibrated"]]
    assert len(runs) == 2 * 3 * 6, "two seeds x three conditions x 3! orders"
    assert {row["condition"] for row in runs} == {"gold", "flipped", "correct=0.5"}
    spread = list(csv.DictReader((output / "orders.csv").open()))
    within = [s for s in spread if s["set"] != "all"]
    assert len(within) == 2 * 3 and all(int(s["orders"]) == 6 for s in within)
    for entry in within:
        values = [r["accuracy"] for r in runs if r["seed"] == int(entry["set"]) and r["condition"] == entry["condition"]]
        assert float(entry["min"]) == pytest.approx(min(values)) and float(entry["max"]) == pytest.approx(max(values))
    pairs = list(csv.DictReader((output / "consistency.csv").open()))
    assert {p["factor"] for p in pairs} == {"order", "seed", "condition"}
    assert "consistency between runs that differ in one factor: order: kappa" in capsys.readouterr().out
    for name in ("orders.png", "label_conditions.png", "accuracy_vs_correct_fraction.png"):
        assert (output / name).stat().st_size > 5000
    flipped = next((output / "predictions").glob("*flipped__order0.jsonl"))
    for line in flipped.read_text().splitlines():
        example = json.loads(line)
        assert example["shown_labels"] == [1 - label for label in example["demonstration_labels"]]
        assert example["condition"] == "flipped" and example["order"] == "0-1-2"


@pytest.mark.parametrize("flags, message", [
    (["--correct_fraction", "1.5"], "--correct_fraction must be between 0 and 1, got 1.5"),
    (["--unrelated_label_words", "foo", "foo", "--demo_labels", "unrelated"], "each class needs its own non-empty word"),
    (["--orders", "all", "--shots", "6"], "--orders all with 6 shots is 720 orders, more than --max_orders 120"),
    (["--orders", "many"], "--orders takes a positive number or all"),
    (["--correct_fraction", "0.5", "--shots", "0"], "--correct_fraction sets the share of correct demonstration labels"),
    (["--demo_labels", "sideways"], "unknown --demo_labels 'sideways'"),
    (["--demo_format", "ood_inputs"], "--demo_format ood_inputs needs --ood_inputs FILE"),
])
def test_bad_condition_flags_are_one_line_and_write_nothing(flags, message, fewshot_gpt2, fewshot_files, tmp_path):
    with pytest.raises(UserError, match=message.replace("-", r"\-").replace("(", r"\(").replace(")", r"\)")):
        fewshot.main(["--model_name_or_path", fewshot_gpt2, "--train_file", fewshot_files["train"], "--validation_file",
                      fewshot_files["validation"], "--shots", "2", *flags, "--output_dir", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def test_words_the_tokenizer_cannot_tell_apart_flipped_generation_and_bad_ood_files_are_refused(fewshot_gpt2, fewshot_files,
                                                                                              tmp_path):
    argv = ["--model_name_or_path", fewshot_gpt2, "--train_file", fewshot_files["train"], "--validation_file",
            fewshot_files["validation"], "--shots", "2", "--output_dir", str(tmp_path / "o")]
    with pytest.raises(UserError, match="each class needs its own non-empty word"):
        fewshot.main([*argv, "--demo_labels", "unrelated", "--unrelated_label_words", "Foo", "foo"])
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(UserError, match="holds no sentences"):
        fewshot.main([*argv, "--ood_inputs", str(tmp_path / "empty.txt")])
    (tmp_path / "notext.jsonl").write_text('{"sentence": "a"}\n')
    with pytest.raises(UserError, match="has no 'text' column"):
        fewshot.main([*argv, "--ood_inputs", str(tmp_path / "notext.jsonl")])
    with pytest.raises(UserError, match="--demo_labels flipped needs a fixed label set"):
        fewshot.main([*argv[:2], "--dataset_name", "example:arithmetic", "--template", "arithmetic", "--shots", "2",
                      "--demo_labels", "flipped", "--output_dir", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()
    done = subprocess.run([sys.executable, "-m", "finetune_toolkit", "fewshot", *argv, "--correct_fraction", "-1"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: --correct_fraction must be")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("condition", ["flipped", "unrelated"])
def test_flipped_and_unrelated_labels_give_lm_evals_numbers_on_the_same_prompts(condition, fewshot_gpt2, fewshot_files, tmp_path):
    """lm-eval has no label conditions, but the same prompts can be written as plain tasks: a few-shot split holding
    the demonstrations with flipped labels (`first_n` sampler), or a task whose choices are the unrelated words."""
    lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install -e .[lm-eval])")
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from prompts.lm_eval_task import write_lm_eval_task
    from prompts.template import PromptTemplate
    from prompts.verbalizer import Verbalizer

    model, tokenizer = load_generator(fewshot_gpt2)
    template = load_template("sentiment")
    train = [json.loads(line) for line in open(fewshot_files["train"])]
    validation = [json.loads(line) for line in open(fewshot_files["validation"])][:12]
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(row) + "\n" for row in validation))
    if condition == "flipped":
        (tmp_path / "train.jsonl").write_text("".join(json.dumps({**row, "label": 1 - row["label"]}) + "\n" for row in train))
        exported = template
        ours = FewShotConfig(shots=4, selection="first_n", demo_labels="flipped", progress=False)
    else:
        (tmp_path / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in train))
        exported = PromptTemplate(demonstration=template.demonstration, name="foobar",
                                  verbalizer=Verbalizer({"negative": ["foo"], "positive": ["bar"]}))
        ours = FewShotConfig(shots=4, selection="first_n", demo_labels="unrelated", unrelated_label_words=("foo", "bar"),
                             progress=False)
    write_lm_eval_task(tmp_path, exported, str(tmp_path / "train.jsonl"), str(tmp_path / "eval.jsonl"), task_name="cond")
    theirs = lm_eval.simple_evaluate(model=HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4), tasks=["cond"],
                                     num_fewshot=4, log_samples=True,
                                     task_manager=TaskManager(include_path=str(tmp_path), include_defaults=False))
    pool = LabelledExamples([{"text": row["text"]} for row in train], [row["label"] for row in train])
    result = FewShotClassifier(model, tokenizer, template, pool, ours).predict(
        LabelledExamples([{"text": row["text"]} for row in validation], [row["label"] for row in validation]))
    samples = sorted(theirs["samples"]["cond"], key=lambda s: s["doc_id"])
    assert samples[0]["arguments"][0][0] == result.example_prompt, "the same prompt, demonstrations and all"
    their_predictions = [max(range(2), key=lambda i: s["resps"][i][0][0]) for s in samples]
    assert result.predictions == their_predictions
    accuracy = sum(p == row["label"] for p, row in zip(result.predictions, validation)) / len(validation)
    assert accuracy == pytest.approx(theirs["results"]["cond"]["acc,none"])
    for sample, log_probs in zip(samples, result.label_log_probs):
        assert log_probs == pytest.approx([float(r[0][0]) for r in sample["resps"]], abs=1e-4)


def test_global_and_local_entropy_choose_the_order_a_hand_computation_chooses(fewshot_gpt2, monkeypatch):
    """Two candidate orders on a tiny model; the probing set is fixed here so the entropies can be computed by hand
    from each order's own predicted probabilities."""
    import math

    from prompts import order_selection

    model, tokenizer = load_generator(fewshot_gpt2)
    template, pool = load_template("sentiment"), pool_of([0, 1, 1, 0])
    probes = ["the film was a joy to watch", "a dull and tired plot", "the acting was fine but slow", "what a mess"]
    monkeypatch.setattr(order_selection, "probing_texts", lambda *args, **kwargs: probes)
    orders = [(0, 1, 2, 3), (3, 2, 1, 0)]

    def config_for(order):
        return FewShotConfig(shots=4, selection="first_n", demo_order=order, progress=False)

    rows = order_selection.order_choice_rows(model, tokenizer, template, pool, config_for, orders, 0, {0: 0.5, 1: 0.75})
    for statistic in ("global_entropy", "local_entropy"):
        expected = []
        for order in orders:
            probabilities = FewShotClassifier(model, tokenizer, template, pool, config_for(order)).predict(probes).probabilities
            if statistic == "global_entropy":
                counts = [sum(max(range(2), key=row.__getitem__) == label for row in probabilities) for label in (0, 1)]
                expected.append(-sum(c / 4 * math.log(c / 4) for c in counts if c))
            else:
                expected.append(sum(-sum(p * math.log(p) for p in row) for row in probabilities) / 4)
        row = next(r for r in rows if r["statistic"] == statistic)
        assert row["statistics"] == pytest.approx(expected, abs=1e-4)
        best = max(range(2), key=expected.__getitem__)
        assert row["chosen_order"] == "-".join(map(str, orders[best])) and row["chosen_accuracy"] == [0.5, 0.75][best]
        assert row["mean_accuracy"] == pytest.approx(0.625)


def test_label_conditions_over_several_models_are_plotted_against_model_size(tiny_gpt2, fewshot_gpt2, fewshot_files, tmp_path):
    output = tmp_path / "wei"
    rows = fewshot.main(["--model_name_or_path", tiny_gpt2, fewshot_gpt2, "--train_file", fewshot_files["train"],
                         "--validation_file", fewshot_files["validation"], "--shots", "2", "--selection", "balanced",
                         "--demo_labels", "gold", "flipped", "--max_eval_samples", "6", "--output_dir", str(output)])
    assert {(row["model"], row["condition"]) for row in rows} == {(m, c) for m in (tiny_gpt2, fewshot_gpt2) for c in ("gold", "flipped")}
    assert (output / "label_conditions.png").stat().st_size > 5000
