"""Padding-free batches in rows sized for attention.

Packing flattens a batch of examples into one row with position ids restarting at each example
(`transformers.DataCollatorWithFlattening`); Transformers then builds a block-diagonal causal mask, so no example
attends to another. On kernels without variable-length attention (SDPA on CPU, eager) the row's attention still
costs its length squared: 16 SST-2 pairs of 32 tokens make a row of 512, and each token pays for attention over
512 positions, of which it may see 32 at most. `PackedRowsCollator` spreads the examples over `k` rows of near-equal
length instead (longest first, each to the shortest row), fills each row's tail with a padding segment of its own
(position ids from 0, labels -100, so it is one more packed sequence that nothing attends to), and picks the `k`
that minimises the estimated cost of the batch: `k * row_length * (1 + row_length / break_even)`, where
`break_even` is the row length at which a token's attention costs as much as its linear layers
(`attention_break_even`). Few long examples keep one row; many short ones get several short rows. Loss and
gradients are those of the one-row batch up to float32 summation order: every example sees exactly its own tokens.
"""

from __future__ import annotations

import heapq
import math

import torch

from .kept_logits import IGNORE_INDEX

# Attention that pays for the whole row whatever the mask; the variable-length kernels (flash_attention_*) and
# flex_attention's block-sparse masks skip what the mask hides, so for them one row is best.
DENSE_ATTENTION = ("sdpa", "eager")


def attention_break_even(model) -> float | None:
    """The row length at which attention costs a token as much as its linear layers: a decoder layer's weights
    over 4 x hidden size (attention forward is 4 x length x hidden FLOPs a token, a linear layer's 2 x its weights,
    and backward multiplies both about alike). None (batches stay one row) when the model's attention skips masked
    blocks, or its config does not say."""
    config = getattr(model, "config", None)
    get_text_config = getattr(config, "get_text_config", None)
    config = get_text_config() if callable(get_text_config) else config
    if getattr(config, "_attn_implementation", None) not in DENSE_ATTENTION:
        return None
    layers = getattr(config, "num_hidden_layers", None)
    hidden = getattr(config, "hidden_size", None)
    if not layers or not hidden:
        return None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layer_weights = base.num_parameters(exclude_embeddings=True) / layers
    return layer_weights / (4 * hidden)


def balanced_rows(lengths: list[int], count: int) -> list[list[int]]:
    """Indices of `lengths` split into `count` rows of near-equal total length (longest first, each to the shortest
    row, the first of equal ones), each row in the original order; no empty rows."""
    rows: list[list[int]] = [[] for _ in range(count)]
    shortest = [(0, row) for row in range(count)]  # a heap of (total length, row)
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        total, row = heapq.heappop(shortest)
        rows[row].append(index)
        heapq.heappush(shortest, (total + lengths[index], row))
    return [sorted(row) for row in rows if row]


def row_counts(batch_size: int) -> list[int]:
    """The row counts tried first: every one up to 16, then a quarter more each time (a batch of 256 tries 28)."""
    counts = [1]
    while counts[-1] < batch_size:
        counts.append(counts[-1] + 1 if counts[-1] < 16 else min(batch_size, math.ceil(counts[-1] * 1.25)))
    return counts


def cheapest_rows(lengths: list[int], break_even: float | None) -> list[list[int]]:
    """The split of a batch into rows with the least estimated cost (one row when `break_even` is None): the
    counts of `row_counts` until rows cannot get shorter, then finer and finer steps around the three best (a batch
    of 256 tries about 60 counts of 256; on random batches the split costs at most 7% more than the best of all)."""
    if break_even is None or len(lengths) < 2:
        return [list(range(len(lengths)))]
    tried: dict[int, tuple[float, list[list[int]], int]] = {}  # count -> (cost, rows, row length)

    def cost(count: int) -> float:
        if count not in tried:
            rows = balanced_rows(lengths, count)
            row_length = max(sum(lengths[i] for i in row) for row in rows)
            tried[count] = (len(rows) * row_length * (1 + row_length / break_even), rows, row_length)
        return tried[count][0]

    counts, longest = row_counts(len(lengths)), max(lengths)
    for position, count in enumerate(counts):
        cost(count)
        if tried[count][2] == longest:  # rows cannot get shorter: more of them only add padding
            counts = counts[: position + 1]
            break
    while True:  # finer steps around the three best so far, until no count is new
        finer = set()
        for best in sorted(range(len(counts)), key=lambda position: cost(counts[position]))[:3]:
            low, high = counts[max(best - 1, 0)], counts[min(best + 1, len(counts) - 1)]
            finer.update(range(low, high + 1, max(1, math.ceil((high - low) / 8))), {high})
        if finer <= tried.keys():
            break
        counts = sorted(finer)
    return min(tried.values(), key=lambda entry: entry[0])[1]


class PackedRowsCollator:
    """Examples (`input_ids`, optional `labels`) flattened into the cheapest number of rows for attention.

    Returns `input_ids`, `labels` and `position_ids` of shape (rows, row_length) and `use_cache=False`: Transformers
    builds the block-diagonal mask that keeps examples apart only when no KV cache is in play, and GPT-2 makes one
    whenever `use_cache` is on, in training too. Each example's first label is -100 (it would be predicted from the
    example before it), as in `DataCollatorWithFlattening`.
    """

    def __init__(self, pad_token_id: int = 0, break_even: float | None = None):
        self.pad_token_id = pad_token_id
        self.break_even = break_even

    def __call__(self, features: list[dict]) -> dict:
        lengths = [len(feature["input_ids"]) for feature in features]
        rows = cheapest_rows(lengths, self.break_even)
        row_length = max(sum(lengths[i] for i in row) for row in rows)
        input_ids, labels, position_ids = [], [], []
        for row in rows:
            ids, row_labels, positions = [], [], []
            for index in row:
                feature = features[index]
                example_labels = list(feature.get("labels", feature["input_ids"]))
                ids += list(feature["input_ids"])
                row_labels += [IGNORE_INDEX] + example_labels[1:]
                positions += range(len(feature["input_ids"]))
            padding = row_length - len(ids)
            input_ids.append(ids + [self.pad_token_id] * padding)
            labels.append(row_labels + [IGNORE_INDEX] * padding)
            position_ids.append(positions + list(range(padding)))
        return {"input_ids": torch.tensor(input_ids), "labels": torch.tensor(labels),
                "position_ids": torch.tensor(position_ids), "use_cache": False}
