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

import logging

import torch

from finetune_toolkit.core.device import run_in_batches, to_device
from finetune_toolkit.core.fast_path import TOLERANCE, agreed_before, fast_path_problem, remember_agreement
from finetune_toolkit.core.progress import progress

from .plain_scoring import next_token_log_probs
from finetune_toolkit.core.prefixes import prefix_runs

from .score_batching import auto_batch_rows
from .scoring import LabelScorer

logger = logging.getLogger(__name__)


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
    """

    def __init__(self, model, batch_size: int | None = None, reuse_prefix: bool = True, progress: bool = True):
        # The prefix cache, soft prompt and forward-call details are LabelScorer's; it is given no label words.
        self.base = LabelScorer(model, [[[0]]], batch_size=batch_size, reuse_prefix=reuse_prefix, progress=False)
        self.original_model, self.model = model, self.base.model
        self.batch_size, self.reuse_prefix, self.progress = batch_size, reuse_prefix, progress
        self.one_pass = self.base.one_pass
        self.path_checked, self.plain_reason = False, None
        self.max_rows: int | None = None

    @torch.inference_mode()  # recording the autograd graph made a CPU scoring pass 1.7x slower
    def score(self, requests: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        """`(summed log-probability, greedy)` of each continuation after its context, in request order."""
        if not requests:
            return []
        for context, continuation in requests:
            if not context or not continuation:
                raise ValueError("every request needs at least one context token and one continuation token")
        if not self.path_checked:
            self._choose_path(requests)
        if self.plain_reason is not None:
            return plain_option_scores(self.original_model, requests)
        return self._score_fast(requests)

    def _choose_path(self, requests) -> None:
        self.path_checked = True
        longest = self.base.virtual_length + max(len(c) + len(t) for c, t in requests)
        problem = fast_path_problem(self.model, longest)
        if problem is None and not self.one_pass:
            problem = "its attention kernel (FlashAttention) takes no custom attention mask"
        if problem is None and agreed_before(self.original_model, "options"):
            return
        if problem is None:
            by_length = sorted(range(len(requests)), key=lambda i: len(requests[i][0]) + len(requests[i][1]))
            sample = [requests[i] for i in dict.fromkeys([by_length[0], by_length[len(by_length) // 2], by_length[-1]])]
            plain = plain_option_scores(self.original_model, sample)
            try:
                fast = self._score_fast(sample, show_progress=False)
            except torch.OutOfMemoryError:
                raise
            except RuntimeError as error:
                fast, problem = None, f"the fast path fails on it ({' '.join(str(error).split())[:120]})"
            if fast is not None:
                difference = max(abs(a[0] - b[0]) for a, b in zip(fast, plain))
                if not difference <= TOLERANCE or [a[1] for a in fast] != [b[1] for b in plain]:
                    problem = f"its fast-path log-probabilities differ from a plain forward pass by {difference:.1e} on the first requests"
        if problem is not None:
            self.plain_reason = problem
            logger.warning("scoring on the plain path (one unpadded forward pass per request): %s", problem)
        else:
            remember_agreement(self.original_model, "options")

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
            use_cache = prefix_length > 0 or self.base.virtual_prompt is not None
            cache = self.base._encode_prefix(rows[run[0]][:prefix_length]) if use_cache else None
            offset = self.base.virtual_length + prefix_length
            order = sorted(run, key=lambda r: -(len(rows[r]) + sum(len(requests[i][1]) for i in row_requests[r])))
            width_guess = len(rows[order[0]]) - prefix_length + sum(len(requests[i][1]) for i in row_requests[order[0]])
            size = self.batch_size or min(auto_batch_rows(self.base.device, width_guess), self.max_rows or len(order))

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
        pad = self.base.pad_id
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _, _ in layouts])
        segments = torch.tensor([seg + [-2] * (width - len(seg)) for _, seg, _ in layouts])
        positions = torch.tensor([pos + [pos[-1]] * (width - len(pos)) for _, _, pos in layouts])
        input_ids, segments, positions = (to_device(t, self.base.device) for t in (input_ids, segments, positions))
        mask = block_attention_mask(segments, offset, self.model.dtype)
        cache = self.base._expanded_cache(prefix_cache, batch) if prefix_cache is not None else None
        # Only the positions that predict a continuation token go through the output layer.
        predictors, start_of = [], []
        for suffix, row_blocks in zip(suffixes, blocks):
            start, row_predictors = len(suffix), []
            for _, continuation in row_blocks:
                # The first token is predicted by the context's last token, the others by the block's tokens.
                row_predictors.append([len(suffix) - 1] + list(range(start, start + len(continuation) - 1)))
                start += len(continuation) - 1
            predictors.append(row_predictors)
        keep = sorted({position for row in predictors for block in row for position in block})
        column_of = {position: column for column, position in enumerate(keep)}
        keep_t = to_device(torch.tensor(keep), self.base.device)
        kwargs = {"logits_to_keep": keep_t} if self.base.takes_logits_to_keep else {}
        output = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=False,
                            **{self.base.cache_name: cache}, **kwargs)
        logits = output.logits if self.base.takes_logits_to_keep else output.logits[:, keep_t]
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        for row, row_blocks in enumerate(blocks):
            for (index, continuation), block in zip(row_blocks, predictors[row]):
                picked = log_probs[row, [column_of[position] for position in block]]
                targets = torch.tensor(continuation, device=picked.device)
                total = picked[torch.arange(len(continuation)), targets].sum().item()
                yield index, (total, bool((picked.argmax(-1) == targets).all().item()))
