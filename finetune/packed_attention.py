"""Attention over a packed row, one example at a time: padding-free everywhere but inside attention.

A padding-free batch is one row of whole examples with position ids restarting at each example. SDPA with the
block-diagonal mask Transformers builds for it computes every query against every key of the row (16 SST-2 pairs of
about 30 tokens: a 500 x 500 score matrix) and then masks most of it away. `packed_sdpa` cuts the row at the position
restarts, pads the examples into a small batch (16 x 40 x 40 here), runs causal SDPA on that and puts the outputs back
in the row: the linear layers still see no padding, and attention does an eighth of the work. Right padding never
changes a causal attention's real positions, so the outputs equal the masked computation's up to float32 summation
order (tests/test_kept_logits.py).

It is registered with Transformers as the attention implementation "packed_sdpa" (its masks are SDPA's, used only
when it falls back to plain SDPA: a row that is not packed, a batch of several rows, a sliding-window layer, or a
model that does not pass `position_ids` to its attention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "packed_sdpa"


def packed_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
                is_causal: bool | None = None, **kwargs):
    """Transformers' attention interface: `query` [1, heads, L, dim], `key`/`value` [1, kv heads, L, dim] of one
    packed row; returns [1, L, heads, dim]."""
    position_ids = kwargs.get("position_ids")
    if (position_ids is None or query.shape[0] != 1 or position_ids.shape[-1] != query.shape[2]
            or getattr(module, "sliding_window", None) or not getattr(module, "is_causal", True)):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    starts = (position_ids.reshape(-1) == 0).nonzero().reshape(-1).tolist()
    if not starts or starts[0] != 0 or len(starts) == 1:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    lengths = [end - start for start, end in zip(starts, starts[1:] + [query.shape[2]])]
    repeats = query.shape[1] // key.shape[1]
    if repeats > 1:  # grouped-query attention: each key/value head serves `repeats` query heads
        key, value = key.repeat_interleave(repeats, dim=1), value.repeat_interleave(repeats, dim=1)

    def padded(states: torch.Tensor) -> torch.Tensor:  # [1, H, L, D] -> [examples, H, longest, D]
        pieces = states[0].transpose(0, 1).split(lengths)  # each [length, H, D]
        return torch.nn.utils.rnn.pad_sequence(pieces, batch_first=True).transpose(1, 2)

    output = F.scaled_dot_product_attention(padded(query), padded(key), padded(value), is_causal=True, scale=scaling,
                                            dropout_p=dropout if module.training else 0.0)
    output = torch.cat([row[:, :length] for row, length in zip(output, lengths)], dim=1)  # [H, L, D]
    return output.transpose(0, 1).unsqueeze(0).contiguous(), None


def use_packed_attention(model) -> bool:
    """Switch a model on SDPA to `packed_sdpa` (for padding-free training); False, unchanged, on another kernel."""
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(NAME, packed_sdpa)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
    return True
