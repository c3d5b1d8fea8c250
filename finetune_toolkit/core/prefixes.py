"""Token prefixes that many prompts share, found once and computed once: the few-shot demonstrations before every
query. The scorer core (`scoring_core`, serving `prompts.scoring`, `prompts.option_scoring` and lm-eval's backend) and batched
generation (`generation.generate`) encode such a prefix a single time and continue its KV cache for every prompt of
a batch; both pass that cache under the name the installed Transformers takes (`cache_argument`).
"""

from __future__ import annotations

import functools
import inspect

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


@functools.cache
def _forward_parameters(model_class) -> frozenset[str]:
    return frozenset(inspect.signature(model_class.forward).parameters)


def cache_argument(model) -> str:
    """The name under which this model's `forward` (and so `generate`) takes a KV cache: `cache` since a Transformers
    5.x release renamed it, `past_key_values` before. Passing the other name is refused as an unused model kwarg."""
    return "cache" if "cache" in _forward_parameters(type(model)) else "past_key_values"


def takes_logits_to_keep(model) -> bool:
    """Whether this model's `forward` computes the output layer only at the positions it is told (`logits_to_keep`)."""
    return "logits_to_keep" in _forward_parameters(type(model))


@torch.inference_mode()
def encode_prefix(model, prefix: list[int], virtual_prompt: torch.Tensor | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each layer's keys and values after one forward pass over `prefix` (batch of one). A `virtual_prompt`
    (`[virtual tokens, hidden]`, a prompt-tuned model's soft prompt) comes first, as `PeftModel` feeds it."""
    input_ids = to_device(torch.tensor([prefix], dtype=torch.long), model.device)
    kwargs = {"logits_to_keep": 1} if takes_logits_to_keep(model) else {}
    if virtual_prompt is not None:
        embeddings = model.get_input_embeddings()(input_ids)
        kwargs["inputs_embeds"] = torch.cat([virtual_prompt[None].to(embeddings.dtype), embeddings], 1)
    else:
        kwargs["input_ids"] = input_ids
    cache = cache_of(model(use_cache=True, **kwargs))
    return [(layer.keys, layer.values) for layer in cache.layers]


def expanded_cache(model, prefix_cache: list[tuple[torch.Tensor, torch.Tensor]], batch: int) -> DynamicCache:
    """A fresh cache holding `prefix_cache` for each of `batch` rows (views, not copies: new tokens are appended to
    new tensors, so the prefix's own tensors are never written)."""
    data = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in prefix_cache]
    return DynamicCache(ddp_cache_data=data, config=model.config)


class PrefixStore:
    """KV caches of prefixes already encoded, so a prefix that begins like an earlier one is computed only from where
    they part: a prefix tree over token ids, as an order study needs (the same demonstrations in every order share
    their first demonstrations' tokens). `encode(model, prefix)` finds the stored prefix with the longest common
    start, keeps its keys and values up to there (views) and runs the model over the rest only.

    One store serves one model with fixed weights (a sweep or a study creates its own); `computed_tokens` counts the
    positions it ran the model over."""

    def __init__(self):
        self.entries: dict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.computed_tokens = 0

    @torch.inference_mode()
    def encode(self, model, prefix: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The KV cache of `prefix`, continuing the stored prefix that shares most of its start."""
        key = tuple(prefix)
        if key in self.entries:
            return self.entries[key]
        shared, start = 0, None
        for stored in self.entries:
            length = common_prefix_length([list(stored[: len(key)]), prefix])
            if length > shared:
                shared, start = length, stored
        shared = min(shared, len(prefix) - 1)  # at least one token is run, to return its cache
        if start is None or shared < 1:
            cache = encode_prefix(model, prefix)
            self.computed_tokens += len(prefix)
        else:
            past = DynamicCache(ddp_cache_data=[(k[:, :, :shared], v[:, :, :shared]) for k, v in self.entries[start]],
                                config=model.config)
            ids = to_device(torch.tensor([prefix[shared:]], dtype=torch.long), model.device)
            positions = torch.arange(shared, len(prefix), device=ids.device)[None]
            kwargs = {"logits_to_keep": 1} if takes_logits_to_keep(model) else {}
            output = model(input_ids=ids, position_ids=positions, use_cache=True, **{cache_argument(model): past}, **kwargs)
            cache = [(layer.keys, layer.values) for layer in cache_of(output).layers]
            self.computed_tokens += len(prefix) - shared
        self.entries[key] = cache
        return cache
