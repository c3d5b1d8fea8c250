"""Choosing and ordering demonstrations from a pool of labelled examples.

Strategies: `random` (seeded), `balanced` (the same number per class, seeded), `first_n`, `indices`
(explicit pool rows) and `nearest` (the pool examples most similar to each query, by sentence embeddings
from any encoder or, without one, TF-IDF). The first four pick one set for every query (the usual
fixed-demonstration protocol); `nearest` picks a set per query. A query never serves as its own
demonstration: a pool example with the same fields is skipped and the next candidate taken.

Orderings: `as_selected` (for `nearest`, least similar first, so the closest example sits next to the
query), `random` (seeded) or `grouped` (by label, in label-id order).
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from dataclasses import dataclass

import torch
from transformers import AutoModel

from finetune_toolkit.core.device import execution_device
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.models import ModelArguments, load_model, load_tokenizer
from finetune_toolkit.core.progress import progress

from .data import LabelledExamples

SELECTIONS = ("random", "balanced", "first_n", "indices", "nearest")
ORDERINGS = ("as_selected", "random", "grouped")


def choose(strategy: str, labels: list[int], k: int, seed: int, label_names: list[str],
           indices: list[int] | None = None, excluded: frozenset[int] = frozenset()) -> list[int]:
    """Pool indices of `k` demonstrations chosen by a fixed `strategy` (not `nearest`), skipping `excluded`."""
    size = len(labels)
    if strategy == "indices":
        if not indices:
            raise UserError("--selection indices needs --demonstration_indices I J ...")
        bad = [i for i in indices if not 0 <= i < size]
        if bad:
            raise UserError(f"demonstration index {bad[0]} is outside the pool (0..{size - 1}); fix --demonstration_indices")
        return [i for i in indices if i not in excluded]
    if k > size - len(excluded):
        raise UserError(f"{k} demonstrations asked for, but the pool has {size - len(excluded)} examples; lower --shots or give a bigger pool")
    if strategy == "first_n":
        return [i for i in range(size) if i not in excluded][:k]
    rng = random.Random(seed)
    if strategy == "random":
        order = list(range(size))
        rng.shuffle(order)
        return [i for i in order if i not in excluded][:k]
    if strategy == "balanced":
        return _balanced(labels, k, rng, label_names, excluded)
    raise UserError(f"unknown selection {strategy!r}; choose from: {', '.join(SELECTIONS)}")


def _balanced(labels, k, rng, label_names, excluded) -> list[int]:
    classes = len(label_names)
    quota = [k // classes] * classes
    for label in rng.sample(range(classes), k % classes):
        quota[label] += 1
    by_label = {label: [i for i, y in enumerate(labels) if y == label and i not in excluded] for label in range(classes)}
    chosen = []
    for label in range(classes):
        if quota[label] > len(by_label[label]):
            raise UserError(
                f"balanced selection of {k} needs {quota[label]} examples of label {label_names[label]!r}, "
                f"but the pool has {len(by_label[label])}; lower --shots or use --selection random"
            )
        chosen += rng.sample(by_label[label], quota[label])
    rng.shuffle(chosen)
    return chosen


def order(selected: list[int], ordering: str, labels: list[int], seed: int) -> list[int]:
    """Demonstrations in the order they appear in the prompt."""
    if ordering == "as_selected":
        return list(selected)
    if ordering == "random":
        shuffled = list(selected)
        random.Random(seed + 1).shuffle(shuffled)
        return shuffled
    if ordering == "grouped":
        return sorted(selected, key=lambda i: labels[i])  # stable: keeps the selection order within a label
    raise UserError(f"unknown ordering {ordering!r}; choose from: {', '.join(ORDERINGS)}")


def nearest(query_vectors: torch.Tensor, pool_vectors: torch.Tensor, k: int,
            excluded: list[frozenset[int]]) -> list[list[int]]:
    """For each query, the `k` most similar pool rows (cosine similarity), least similar first."""
    if k > pool_vectors.shape[0]:
        raise UserError(f"{k} demonstrations asked for, but the pool has {pool_vectors.shape[0]} examples; lower --shots")
    chosen = []
    for start in range(0, query_vectors.shape[0], 256):
        queries = query_vectors[start:start + 256]
        if pool_vectors.is_sparse:
            similarity = torch.sparse.mm(pool_vectors, queries.T).T
        else:
            similarity = queries @ pool_vectors.T
        for row, skip in zip(similarity, excluded[start:start + 256]):
            if skip:
                row[list(skip)] = -math.inf
            top = torch.topk(row, k).indices.tolist()
            chosen.append(top[::-1])
    return chosen


def tfidf_vectors(query_texts: list[str], pool_texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised TF-IDF vectors (sparse) of queries and pool, with the vocabulary and IDF of the pool."""
    tokenized_pool = [_words(text) for text in pool_texts]
    document_frequency = Counter(word for words in tokenized_pool for word in set(words))
    vocabulary = {word: i for i, word in enumerate(sorted(document_frequency))}
    idf = {word: math.log((1 + len(pool_texts)) / (1 + df)) + 1 for word, df in document_frequency.items()}

    def matrix(tokenized):
        rows, cols, values = [], [], []
        for row, words in enumerate(tokenized):
            counts = Counter(w for w in words if w in vocabulary)
            norm = math.sqrt(sum((c * idf[w]) ** 2 for w, c in counts.items())) or 1.0
            for word, count in counts.items():
                rows.append(row), cols.append(vocabulary[word]), values.append(count * idf[word] / norm)
        return torch.sparse_coo_tensor([rows, cols], values, (len(tokenized), len(vocabulary)),
                                       dtype=torch.float32, check_invariants=True)

    return matrix([_words(t) for t in query_texts]).to_dense(), matrix(tokenized_pool).coalesce()


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def embedding_vectors(texts: list[str], encoder_name: str, batch_size: int = 64) -> torch.Tensor:
    """L2-normalised mean-pooled sentence embeddings from any encoder (e.g. packaged:all-MiniLM-L6-v2)."""
    args = ModelArguments(model_name_or_path=encoder_name)
    tokenizer, model = load_tokenizer(args), load_model(AutoModel, args).to(execution_device()).eval()
    vectors = []
    with torch.inference_mode():
        bar = progress(len(texts), "embedding", "text")
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=256, return_tensors="pt")
            batch = batch.to(model.device)
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            vectors.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).float().cpu())
            bar.update(len(vectors[-1]))
    bar.close()
    return torch.cat(vectors)


@dataclass(frozen=True)
class DemonstrationChoice:
    """How one run picks its demonstrations: how many, by which strategy, in which order, with which seed."""

    shots: int
    selection: str = "random"
    ordering: str = "as_selected"
    seed: int = 0
    demonstration_indices: list[int] | None = None
    embedding_model: str | None = None
    permutation: tuple[int, ...] | None = None  # applied to each set after ordering (order studies)


def demonstrations_for(queries: list[dict], pool: LabelledExamples, fields: list[str], label_names: list[str],
                       config: DemonstrationChoice) -> list[list[int]]:
    """Pool indices of each query's demonstrations, in prompt order, as `config` asks.

    Fixed strategies pick one set shared by every query, except for a query that is itself in the pool,
    which gets a set chosen without it; `nearest` picks a set per query.
    """
    if config.shots == 0 and config.selection != "indices":
        return [[] for _ in queries]
    keys = {}
    for index, example in enumerate(pool.fields):
        keys.setdefault(_key(fields, example), set()).add(index)
    excluded = [frozenset(keys.get(_key(fields, query), ())) for query in queries]
    if config.selection == "nearest":
        query_vectors, pool_vectors = _vectors(queries, pool, fields, config.embedding_model)
        chosen = nearest(query_vectors, pool_vectors, config.shots, excluded)
        return [permuted(order(c, config.ordering, pool.labels, config.seed), config.permutation) for c in chosen]

    def fixed(skip: frozenset[int] = frozenset()) -> list[int]:
        picked = choose(config.selection, pool.labels, config.shots, config.seed, label_names, config.demonstration_indices, skip)
        return permuted(order(picked, config.ordering, pool.labels, config.seed), config.permutation)

    shared = fixed()
    # A query that is in the pool gets demonstrations chosen without it.
    return [fixed(skip) if skip & set(shared) else shared for skip in excluded]


def permuted(demonstrations: list[int], permutation: tuple[int, ...] | None) -> list[int]:
    """`demonstrations` in the order `permutation` gives (position i shows demonstrations[permutation[i]])."""
    if permutation is None or len(permutation) != len(demonstrations):
        return demonstrations
    return [demonstrations[i] for i in permutation]


def _key(fields: list[str], example: dict) -> tuple:
    return tuple(str(example.get(name)) for name in fields)


def _text(fields: list[str], example: dict) -> str:
    return " ".join(str(example[name]) for name in fields)


def _vectors(queries: list[dict], pool, fields: list[str], encoder: str | None):
    """Query and pool vectors for `nearest`: TF-IDF, or an encoder's embeddings (the pool's kept on `pool.vectors`)."""
    query_texts = [_text(fields, q) for q in queries]
    if encoder is None:
        return tfidf_vectors(query_texts, [_text(fields, p) for p in pool.fields])
    if encoder not in pool.vectors:
        pool.vectors[encoder] = embedding_vectors([_text(fields, p) for p in pool.fields], encoder)
    return embedding_vectors(query_texts, encoder), pool.vectors[encoder]
