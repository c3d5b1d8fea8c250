"""Continuations scored after their contexts, each context computed once: multiple-choice options, and lm-eval's
`loglikelihood` requests.

`OptionScorer.score(requests)` takes `(context_ids, continuation_ids)` pairs and returns, for each, the summed
log-probability of the continuation's tokens after the context and whether greedy decoding would have produced
exactly those tokens (lm-eval's `(logprob, is_greedy)`).

How the work is shared:
- requests with the same context are one row: the context once, then every continuation but its last token as a
  block after it; an attention mask keeps blocks from seeing each other, and position ids put every block right
  after the context, so each continuation is scored as if it alone followed the context;
- contexts are sorted by their tokens, so contexts with the same demonstrations sit together; each run of them
  shares a token prefix, encoded once, whose KV cache every batch of the run reuses;
- rows are right-padded; padding never changes a score.
A model the fast path cannot serve exactly takes the plain path (`plain_scoring`), as `LabelScorer` does.
"""

from __future__ import annotations

import torch

from finetune_toolkit.core.device import run_in_batches, to_device
from finetune_toolkit.core.fast_path import TOLERANCE
from finetune_toolkit.core.prefixes import prefix_runs
from finetune_toolkit.core.progress import progress
from finetune_toolkit.core.scoring_core import ScoringModel

from .plain_scoring import next_token_log_probs
from .score_batching import auto_batch_rows


def plain_option_scores(model, requests: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
    """The plain path: one unpadded forward pass per request; `(summed log-probability, greedy)` each."""
    results = []
    for context, continuation in requests:
        log_probs, targets = next_token_log_probs(model, context, continuation), torch.tensor(continuation)
        total = log_probs[torch.arange(len(continuation)), targets].sum().item()
        results.append((total, bool((log_probs.argmax(-1) == targets).all().item())))
    return results


def _row_shares(indices: list[int], context_length: int, lengths: list[int]) -> list[list[int]]:
    """The requests of one context split into rows whose continuation tokens add up to at most the context's length
    (or the longest continuation): sharing a row saves computing the context again, which is worth little for a
    short context, while long rows pad every other row of their batch (lm-eval's rolling windows share a one-token
    context)."""
    limit = max(context_length, max(lengths))
    shares, current, width = [], [], 0
    for index, length in zip(indices, lengths):
        if current and width + length > limit:
            shares.append(current)
            current, width = [], 0
        current.append(index)
        width += length
    return shares + [current]


def block_attention_mask(segments: torch.Tensor, prefix_length: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask `[batch, 1, width, prefix + width]` for rows laid out as context, then continuation blocks.

    `segments[b, t]` is -1 for a context token, the block's number for a continuation token, -2 for padding. A token
    sees the prefix, earlier context tokens and earlier tokens of its own block; never padding or another block.
    Every position sees itself, so padding rows stay finite.
    """
    batch, width = segments.shape
    position = torch.arange(width, device=segments.device)
    causal = position[None, None, :] <= position[None, :, None]
    key_segment, query_segment = segments[:, None, :], segments[:, :, None]
    allowed = causal & (key_segment != -2) & ((key_segment == -1) | (key_segment == query_segment))
    allowed |= torch.eye(width, dtype=torch.bool, device=segments.device)[None]
    if prefix_length:
        allowed = torch.cat([allowed.new_ones(batch, width, prefix_length), allowed], 2)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=segments.device).masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


class OptionScorer:
    """Scores `(context, continuation)` token pairs with a causal LM; see the module docstring.

    batch_size: contexts per forward pass; None chooses it and halves it on out-of-memory, like `LabelScorer`.
    reuse_prefix: encode each run's shared prefix once (off: every context in full, the baseline).
    prefix_store: as `LabelScorer`'s.
    """

    def __init__(self, model, batch_size: int | None = None, reuse_prefix: bool = True, progress: bool = True,
                 prefix_store=None):
        self.core = ScoringModel(model, prefix_store)  # prefix encoding, cache expansion, kept logits, path choice
        self.original_model, self.model = model, self.core.model
        self.batch_size, self.reuse_prefix, self.progress = batch_size, reuse_prefix, progress
        self.plain_reason: str | None = None  # why the last call took the plain path, None when it took the fast one
        self.max_rows: int | None = None
        self.pad_id = 0

    @torch.inference_mode()  # recording the autograd graph made a CPU scoring pass 1.7x slower
    def score(self, requests: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        """`(summed log-probability, greedy)` of each continuation after its context, in request order.

        The path is chosen for each call from its own longest request (`ScoringModel.choose_path`)."""
        if not requests:
            return []
        for context, continuation in requests:
            if not context or not continuation:
                raise ValueError("every request needs at least one context token and one continuation token")
        longest = max(len(c) + len(t) for c, t in requests)
        if not self.core.custom_masks:
            self.plain_reason = "its attention kernel (FlashAttention) takes no custom attention mask"
        else:
            kind = f"options/{'prefix' if self.reuse_prefix else 'whole'}"
            self.plain_reason = self.core.choose_path(kind, longest, lambda: self._compare_paths(requests))
        if self.plain_reason is not None:
            return plain_option_scores(self.original_model, requests)
        return self._score_fast(requests)

    def _compare_paths(self, requests) -> str | None:
        """Both paths on the shortest, middle and longest request: None when they agree, else how they differ."""
        by_length = sorted(range(len(requests)), key=lambda i: len(requests[i][0]) + len(requests[i][1]))
        sample = [requests[i] for i in dict.fromkeys([by_length[0], by_length[len(by_length) // 2], by_length[-1]])]
        plain = plain_option_scores(self.original_model, sample)
        try:
            fast = self._score_fast(sample, show_progress=False)
        except torch.OutOfMemoryError:
            raise
        except RuntimeError as error:
            return f"the fast path fails on it ({' '.join(str(error).split())[:120]})"
        difference = max(abs(a[0] - b[0]) for a, b in zip(fast, plain))
        if not difference <= TOLERANCE or [a[1] for a in fast] != [b[1] for b in plain]:
            return f"its fast-path log-probabilities differ from a plain forward pass by {difference:.1e} on the first requests"
        return None

    def _score_fast(self, requests, show_progress: bool = True) -> list[tuple[float, bool]]:
        contexts: dict[tuple[int, ...], list[int]] = {}  # context -> indices of its requests
        for index, (context, _) in enumerate(requests):
            contexts.setdefault(tuple(context), []).append(index)
        rows, row_requests = [], []
        for context, indices in contexts.items():
            for share in _row_shares(indices, len(context), [len(requests[i][1]) for i in indices]):
                rows.append(list(context))
                row_requests.append(share)
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        runs = prefix_runs(rows) if self.reuse_prefix else []
        # Contexts that share nothing worth caching with another are batched together, without a prefix.
        alone = [row for run, shared in runs if len(run) == 1 or shared < 1 for row in run] if runs else list(range(len(rows)))
        runs = [(run, shared) for run, shared in runs if len(run) > 1 and shared >= 1] + ([(alone, 0)] if alone else [])
        bar = progress(len(requests), "scoring", "request", enabled=self.progress and show_progress)
        for run, prefix_length in runs:
            cache = self.core.encode_prefix(rows[run[0]][:prefix_length])
            offset = self.core.virtual_length + prefix_length
            order = sorted(run, key=lambda r: -(len(rows[r]) + sum(len(requests[i][1]) for i in row_requests[r])))
            width_guess = len(rows[order[0]]) - prefix_length + sum(len(requests[i][1]) for i in row_requests[order[0]])
            size = self.batch_size or min(auto_batch_rows(self.core.device, width_guess), self.max_rows or len(order))

            def score_batch(batch: list[int]) -> None:
                for index, result in self._score_batch([rows[r][prefix_length:] for r in batch],
                                                       [[(i, requests[i][1]) for i in row_requests[r]] for r in batch],
                                                       cache, offset):
                    results[index] = result
                bar.update(sum(len(row_requests[r]) for r in batch))

            fitted, _ = run_in_batches(order, size, score_batch, shrink=self.batch_size is None)
            if fitted < size:
                self.max_rows = fitted
        bar.close()
        return results

    def _score_batch(self, suffixes: list[list[int]], blocks: list[list[tuple[int, list[int]]]], prefix_cache, offset: int):
        """One forward pass over rows of context suffix + continuation blocks; yields `(request index, result)`."""
        batch = len(suffixes)
        layouts = []  # per row: token ids, segment of each token, position of each token
        for suffix, row_blocks in zip(suffixes, blocks):
            ids, segments, positions = list(suffix), [-1] * len(suffix), list(range(offset, offset + len(suffix)))
            for number, (_, continuation) in enumerate(row_blocks):
                ids += continuation[:-1]
                segments += [number] * (len(continuation) - 1)
                positions += range(offset + len(suffix), offset + len(suffix) + len(continuation) - 1)
            layouts.append((ids, segments, positions))
        width = max(len(ids) for ids, _, _ in layouts)
        pad = self.pad_id
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _, _ in layouts])
        segments = torch.tensor([seg + [-2] * (width - len(seg)) for _, seg, _ in layouts])
        positions = torch.tensor([pos + [pos[-1]] * (width - len(pos)) for _, _, pos in layouts])
        input_ids, segments, positions = (to_device(t, self.core.device) for t in (input_ids, segments, positions))
        mask = block_attention_mask(segments, offset, self.model.dtype)
        cache = self.core.expanded_cache(prefix_cache, batch)
        # Only the positions that predict a continuation token go through the output layer.
        predictors = []
        for suffix, row_blocks in zip(suffixes, blocks):
            start, row_predictors = len(suffix), []
            for _, continuation in row_blocks:
                # The first token is predicted by the context's last token, the others by the block's tokens.
                row_predictors.append([len(suffix) - 1] + list(range(start, start + len(continuation) - 1)))
                start += len(continuation) - 1
            predictors.append(row_predictors)
        keep = sorted({position for row in predictors for block in row for position in block})
        column_of = {position: column for column, position in enumerate(keep)}
        keep_t = to_device(torch.tensor(keep), self.core.device)
        logits, _ = self.core.kept_logits(input_ids, mask, positions, cache, keep_t)
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        for row, row_blocks in enumerate(blocks):
            for (index, continuation), block in zip(row_blocks, predictors[row]):
                picked = log_probs[row, [column_of[position] for position in block]]
                targets = torch.tensor(continuation, device=picked.device)
                total = picked[torch.arange(len(continuation)), targets].sum().item()
                yield index, (total, bool((picked.argmax(-1) == targets).all().item()))
