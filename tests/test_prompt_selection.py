"""Demonstration selection: counts, seeds, ordering, neighbours, and never the query itself."""

from collections import Counter

import pytest

from prompts import FewShotClassifier, FewShotConfig, LabelledExamples, load_template, selection
from finetune_toolkit.core.errors import UserError

NAMES = ["a", "b", "c"]
LABELS = [0] * 10 + [1] * 10 + [2] * 3


@pytest.mark.parametrize("k, quotas", [(6, {0: 2, 1: 2, 2: 2}), (9, {0: 3, 1: 3, 2: 3})])
def test_balanced_selection_takes_the_same_number_per_class(k, quotas):
    chosen = selection.choose("balanced", LABELS, k, seed=0, label_names=NAMES)
    assert Counter(LABELS[i] for i in chosen) == quotas


def test_balanced_remainder_goes_to_distinct_classes():
    counts = Counter(LABELS[i] for i in selection.choose("balanced", LABELS, 5, seed=3, label_names=NAMES))
    assert sorted(counts.values()) == [1, 2, 2]


def test_balanced_refuses_a_class_too_small():
    with pytest.raises(UserError, match="needs 4 examples of label 'c', but the pool has 3"):
        selection.choose("balanced", LABELS, 12, seed=0, label_names=NAMES)


def test_more_shots_than_the_pool_is_refused():
    with pytest.raises(UserError, match="24 demonstrations asked for, but the pool has 23"):
        selection.choose("random", LABELS, 24, seed=0, label_names=NAMES)


def test_selection_is_reproducible_under_a_seed():
    first = selection.choose("random", LABELS, 5, seed=7, label_names=NAMES)
    assert first == selection.choose("random", LABELS, 5, seed=7, label_names=NAMES)
    assert first != selection.choose("random", LABELS, 5, seed=8, label_names=NAMES)
    assert selection.choose("first_n", LABELS, 3, seed=7, label_names=NAMES) == [0, 1, 2]


def test_grouped_ordering_sorts_by_label_and_keeps_selection_order():
    assert selection.order([12, 0, 21, 5, 11], "grouped", LABELS, seed=0) == [0, 5, 12, 11, 21]


def test_nearest_neighbours_by_tfidf_put_the_closest_last():
    pool = ["the cat sat on the mat", "stock markets fell sharply", "a dog sat on a log", "markets rallied on earnings"]
    queries, pool_vectors = selection.tfidf_vectors(["stock markets fell"], pool)
    chosen = selection.nearest(queries, pool_vectors, 2, [frozenset()])
    assert chosen == [[3, 1]]


def _classifier(pool, queries_k=2, **config):
    template = load_template("sentiment")
    return FewShotClassifier(model=_NoModel(), tokenizer=None, template=template, pool=pool,
                             config=FewShotConfig(shots=queries_k, mode="generate", **config))


class _NoModel:
    """Selection needs no model; only its context length is read."""

    config = type("Config", (), {"max_position_embeddings": 1024})()


def test_a_query_is_never_its_own_demonstration():
    fields = [{"text": f"review {i}"} for i in range(6)]
    pool = LabelledExamples(fields, [0, 1, 0, 1, 0, 1])
    for strategy in ("first_n", "random", "balanced", "nearest"):
        demos = _classifier(pool, 4, selection=strategy).demonstrations_for(fields)
        for i, chosen in enumerate(demos):
            assert i not in chosen and len(chosen) == 4, strategy


def test_fixed_strategies_share_one_demonstration_set():
    pool = LabelledExamples([{"text": f"review {i}"} for i in range(6)], [0, 1, 0, 1, 0, 1])
    demos = _classifier(pool, 3, selection="random", seed=1).demonstrations_for([{"text": "new"}, {"text": "other"}])
    assert demos[0] == demos[1]


def test_nearest_by_encoder_embeddings_with_calibration_matches_the_uncached_path(fewshot_gpt2, tiny_bert, fewshot_files):
    import json
    from pathlib import Path

    import torch

    from finetune_toolkit.core.causal_lm import load_generator

    model, tokenizer = load_generator(fewshot_gpt2)
    rows = [json.loads(line) for line in Path(fewshot_files["train"]).read_text().splitlines()]
    pool = LabelledExamples([{"text": r["text"]} for r in rows], [r["label"] for r in rows])
    queries = ["a superb plot", "the acting was dull", "what a lovely film this is"]
    results = []
    for reuse in (True, False):
        config = FewShotConfig(shots=3, selection="nearest", embedding_model=tiny_bert, calibrate=True, reuse_prefix=reuse,
                               progress=False)
        results.append(FewShotClassifier(model, tokenizer, load_template("sentiment"), pool, config).predict(queries))
    cached, uncached = results
    assert cached.demonstrations == uncached.demonstrations
    assert all(len(set(d)) == 3 for d in cached.demonstrations)
    assert len({tuple(d) for d in cached.demonstrations}) > 1  # each query has its own neighbours
    torch.testing.assert_close(torch.tensor(cached.calibrated_probabilities), torch.tensor(uncached.calibrated_probabilities),
                               atol=1e-5, rtol=1e-5)
    vectors = selection.embedding_vectors(["a superb plot", "a superb plot"], tiny_bert)
    assert torch.allclose(vectors.norm(dim=-1), torch.ones(2)) and torch.allclose(vectors[0], vectors[1], atol=1e-6)


@pytest.mark.parametrize("selection", ["random", "balanced", "first_n", "indices", "nearest"])
@pytest.mark.parametrize("ordering", ["as_selected", "random", "grouped"])
def test_a_query_is_never_its_own_demonstration_even_when_the_evaluation_file_is_the_pool(selection, ordering):
    """lm-eval can show a document as its own demonstration when the few-shot split is the evaluated one; here every
    query of a pool evaluated against itself gets demonstrations that never include its own text, for every strategy."""
    from prompts.selection import DemonstrationChoice, demonstrations_for

    texts = [f"review number {i} was {'good' if i % 2 else 'bad'} and {'fun' if i % 3 else 'long'}" for i in range(12)]
    pool = LabelledExamples([{"text": t} for t in texts], [i % 2 for i in range(12)])
    for seed in range(5):
        config = DemonstrationChoice(selection=selection, shots=4, ordering=ordering, seed=seed,
                                     demonstration_indices=[0, 3, 5, 8] if selection == "indices" else None)
        chosen = demonstrations_for(pool.fields, pool, ["text"], ["negative", "positive"], config)
        for query_index, demonstrations in enumerate(chosen):
            assert query_index not in demonstrations, (seed, query_index, demonstrations)
            assert texts[query_index] not in [texts[i] for i in demonstrations]
            if selection != "indices":
                assert len(demonstrations) == 4 and len(set(demonstrations)) == 4
