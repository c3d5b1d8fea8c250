"""Token prefixes that many prompts share, found once and computed once: the few-shot demonstrations before every
query. The scorers (`prompts.scoring`, `prompts.option_scoring`) and batched generation (`generation.generate`)
encode such a prefix a single time and continue its KV cache for every prompt of a batch.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache

from .device import to_device


def common_prefix_length(sequences: list[list[int]]) -> int:
    """Length of the longest token prefix all `sequences` share."""
    first = sequences[0]
    length = min(len(sequence) for sequence in sequences)
    for sequence in sequences[1:]:
        if sequence[:length] == first[:length]:  # one C-level comparison in the common case
            continue
        low, high = 0, length  # the shared prefix is shorter: find where they part, by bisection
        while low < high:
            middle = (low + high + 1) // 2
            if sequence[:middle] == first[:middle]:
                low = middle
            else:
                high = middle - 1
        length = low
    return length


def prefix_runs(contexts: list[list[int]], keep: float = 0.5) -> list[tuple[list[int], int]]:
    """Runs of contexts (indices, sorted by token ids) and the token prefix each run shares.

    A context joins the current run while the run's shared prefix stays at least `keep` of what it was, so a run of
    prompts with the same demonstrations is not merged into one that shares only an instruction."""
    order = sorted(range(len(contexts)), key=lambda i: contexts[i])
    runs, current, shared = [], [], 0
    for index in order:
        if current:
            together = common_prefix_length([contexts[current[-1]], contexts[index]])
            if len(current) > 1 and together > 2 * shared and (len(current) - 1) * shared < together:
                # The run's last context shares far more with this one than the run shares (a short context that
                # begins like the demonstrations sorted before them): those two start a run of their own.
                last = current.pop()
                runs.append((current, common_prefix_length([contexts[i] for i in current])))
                current, shared = [last, index], together
                continue
            if together >= keep * shared and together > 0:
                current.append(index)
                shared = min(shared, together)
                continue
            runs.append((current, shared))
        current, shared = [index], len(contexts[index])
    if current:
        runs.append((current, shared))
    # Keep one token of every context out of the prefix: its logits score the continuations' first tokens.
    return [(run, min(shared, min(len(contexts[i]) for i in run) - 1)) for run, shared in runs]


def cache_of(output):
    """The KV cache a forward pass returned (its key differs between Transformers versions)."""
    cache = output.get("cache")
    return cache if cache is not None else output.past_key_values


@torch.inference_mode()
def encode_prefix(model, prefix: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each layer's keys and values after one forward pass over `prefix` (batch of one)."""
    input_ids = to_device(torch.tensor([prefix], dtype=torch.long), model.device)
    cache = cache_of(model(input_ids=input_ids, use_cache=True))
    return [(layer.keys, layer.values) for layer in cache.layers]


def expanded_cache(model, prefix_cache: list[tuple[torch.Tensor, torch.Tensor]], batch: int) -> DynamicCache:
    """A fresh cache holding `prefix_cache` for each of `batch` rows (views, not copies: new tokens are appended to
    new tensors, so the prefix's own tensors are never written)."""
    data = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in prefix_cache]
    return DynamicCache(ddp_cache_data=data, config=model.config)
