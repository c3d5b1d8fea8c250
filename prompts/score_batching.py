"""How `LabelScorer` lays out its batches: the attention mask that scores every label word in one pass, and the
automatic batch size."""

from __future__ import annotations

import torch


def word_block_mask(block_of: torch.Tensor, blocks: int, dtype: torch.dtype, lengths: torch.Tensor, width: int,
                    prefix_length: int) -> torch.Tensor:
    """Additive 4D attention mask `[batch, 1, width + blocks, prefix + width + blocks]` for one-pass word scoring.

    `block_of[i]` is the word block of the i-th appended token. Prompt tokens see the prefix and the prompt's earlier
    real tokens; a word block's tokens see the prefix, the whole real prompt and their own block's earlier tokens,
    never another block (each word is scored as if it alone followed the prompt). Every position sees itself, so
    padding rows stay finite.
    """
    device = lengths.device
    total = width + blocks
    query = torch.arange(total, device=device)
    block = torch.cat([torch.full((width,), -1, device=device), block_of])
    key_in_prompt = query[None, None, :] < width  # [1, 1, key]
    real_key = query[None, None, :] < lengths[:, None, None]  # [batch, 1, key]
    query_in_prompt = (query < width)[None, :, None]
    causal = query[None, None, :] <= query[None, :, None]  # [1, query, key]
    sees_prompt = key_in_prompt & real_key & (causal | ~query_in_prompt)
    sees_own_block = ~key_in_prompt & ~query_in_prompt & causal & (block[None, :, None] == block[None, None, :])
    allowed = sees_prompt | sees_own_block | (query[None, :, None] == query[None, None, :])
    if prefix_length:
        allowed = torch.cat([allowed.new_ones(lengths.shape[0], total, prefix_length), allowed], 2)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


def auto_batch_rows(device: torch.device, width: int) -> int:
    """Prompts per forward pass when no batch size is given, for prompts of `width` new tokens.

    On a GPU the first guess is large (up to 512 prompts or 64k new tokens a pass) and `LabelScorer`
    halves it whenever the device runs out of memory, like lm-eval's `--batch_size auto`. On a CPU, 16:
    measured fastest both with SmolLM2-135M (8, 16, 32 and 64 tried) and with the tiny model of
    `benchmarks/toolkit_overhead.py` (8 to 256 tried); larger batches only add memory traffic there. Rows wider
    than 128 tokens (5-shot prompts, lm-eval's rolling perplexity windows) get fewer, at most 2048 tokens a pass:
    on 5-shot SST-2 rows of 250 tokens 8 rows a pass beat 16 by 15-25% and 32 by 35%; and a CPU does not report
    running out of memory, it swaps.
    """
    if device.type != "cuda":
        return max(1, min(16, 2048 // max(1, width)))
    return max(1, min(512, 65536 // max(1, width)))
