"""Label scoring by log-probability, with the shared prompt prefix encoded once.

`LabelScorer.score(prompts, groups)` returns, for every tokenized prompt, the log-probability of each
label: the log of the summed probabilities of the label's words, where a word's log-probability is the
sum (or, with `reduction="mean"`, the mean) of its tokens' log-probabilities after the prompt.

How the work is shared:
- one forward pass over a batch of prompts gives the next-token distribution, which scores every
  single-token label word at once;
- multi-token words continue from the prompts' KV cache, all words of a batch in one more pass;
- prompts in the same group (the same demonstrations) share a token prefix, which is encoded once; its
  KV cache is copied to every batch of the group, so each prompt only pays for its own tokens.
Batches are right-padded, with explicit position ids, so padding never changes a score.

A prompt-tuned model (a `peft` soft prompt) is scored with its base model and the virtual tokens' embeddings
encoded as the first part of every prefix cache, which is what `PeftModel` feeds before each input.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from finetune_toolkit.core.device import run_in_batches, to_device
from finetune_toolkit.core.fast_path import TOLERANCE
from finetune_toolkit.core.prefixes import cache_of, common_prefix_length
from finetune_toolkit.core.progress import progress
from finetune_toolkit.core.scoring_core import ScoringModel

from .plain_scoring import plain_label_scores
from .score_batching import auto_batch_rows, word_block_mask

REDUCTIONS = ("sum", "mean")


class LabelScorer:
    """Scores label continuations after prompts with a causal LM.

    continuations: token ids per label per word, `[label][word] -> ids` (see `Verbalizer.token_ids`).
    batch_size: prompts per forward pass; None chooses it (`auto_batch_rows`) and halves it whenever the
    device runs out of memory, like lm-eval's `--batch_size auto`.
    single_token: score only each word's first token (one forward pass, no continuation pass).
    reuse_prefix: encode each group's shared prefix once (off: encode every full prompt, the baseline).
    prefix_store: a `finetune_toolkit.core.prefixes.PrefixStore` shared by several calls or scorers on one model, so
    that a group's prefix continues the stored one it begins like (an order study's demonstrations).
    """
    def __init__(self, model, continuations: list[list[list[int]]], reduction: str = "sum", batch_size: int | None = None,
                 single_token: bool = False, reuse_prefix: bool = True, progress: bool = True, prefix_store=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}")
        self.core = ScoringModel(model, prefix_store)  # prefix encoding, cache expansion, kept logits, path choice
        self.original_model, self.model = model, self.core.model
        self.continuations, self.single_token = continuations, single_token
        self.plain_reason: str | None = None  # why the last call took the plain path, None when it took the fast one
        self.reduction, self.batch_size = reduction, batch_size
        self.reuse_prefix, self.progress = reuse_prefix, progress
        self.words = [ids[:1] if single_token else ids for label in continuations for ids in label]
        self.num_labels = len(continuations)
        self.multi = [i for i, ids in enumerate(self.words) if len(ids) > 1]
        word_label = torch.tensor([label for label, words in enumerate(continuations) for _ in words])
        # Everything that does not depend on the prompts goes to the device once, not once a batch.
        device = self.device
        self.first_tokens = torch.tensor([ids[0] for ids in self.words], device=device)
        self.word_lengths = torch.tensor([len(ids) for ids in self.words], dtype=torch.float32, device=device)
        # [labels, words] mask: which words stand for which label, for the per-label logsumexp.
        self.not_label_words = (word_label[None, :] != torch.arange(self.num_labels)[:, None]).to(device)
        if self.multi:
            # Tokens 2.. of every multi-token word, one block per word, appended after each prompt in the same
            # forward pass; a custom attention mask keeps the blocks from seeing each other.
            blocks = [(block, self.words[w]) for block, w in enumerate(self.multi)]
            self.block_inputs = torch.tensor([t for _, ids in blocks for t in ids[:-1]], device=device)
            self.block_targets = torch.tensor([t for _, ids in blocks for t in ids[1:]], device=device)
            self.block_of = torch.tensor([b for b, ids in blocks for _ in ids[:-1]], device=device)
            self.block_offset = torch.tensor([o for _, ids in blocks for o in range(len(ids) - 1)], device=device)
            # [block tokens, words]: which word each block token's log-probability adds to
            self.block_word = torch.zeros(len(self.block_inputs), len(self.words), device=device)
            self.block_word[torch.arange(len(self.block_inputs)), torch.tensor(self.multi, device=device)[self.block_of]] = 1
        # FlashAttention takes no custom mask: there, multi-token words continue the KV cache in a second pass.
        self.one_pass = self.core.custom_masks
        if self.multi:  # for the two-pass path
            width = max(len(self.words[w]) for w in self.multi) - 1
            inputs = torch.zeros(len(self.multi), width, dtype=torch.long)
            targets = torch.full((len(self.multi), width), -1, dtype=torch.long)
            for row, w in enumerate(self.multi):
                ids = self.words[w]
                inputs[row, : len(ids) - 1] = torch.tensor(ids[:-1])
                targets[row, : len(ids) - 1] = torch.tensor(ids[1:])
            self.word_inputs, self.word_targets = inputs.to(device), targets.to(device)
        self.pad_id = 0
        self.max_rows: int | None = None  # set when the device ran out of memory at a larger batch
        self.rows_used: int | None = None  # the largest batch that ran, for reports

    @property
    def device(self) -> torch.device:
        return self.model.device

    def max_continuation_length(self) -> int:
        return max(len(ids) for ids in self.words)

    @torch.inference_mode()
    def score(self, prompts: list[list[int]], groups: list | None = None) -> torch.Tensor:
        """Log-probability of each label after each prompt: a float32 tensor `[len(prompts), num_labels]`.

        `groups[i]` names the demonstrations of prompt i; prompts of one group share their prefix cache.
        The scores stay on the device until every batch is done: one copy back, one synchronisation.
        A call the fast path cannot serve exactly is scored on the plain path instead (`ScoringModel.choose_path`).
        """
        groups = groups if groups is not None else [0] * len(prompts)
        if not prompts:
            return torch.empty(0, self.num_labels)
        longest = max(len(p) for p in prompts) + self.max_continuation_length()
        kind = f"labels/{'prefix' if self.reuse_prefix else 'whole'}/{'blocks' if self.one_pass and self.multi else 'words'}"
        self.plain_reason = self.core.choose_path(kind, longest, lambda: self._compare_paths(prompts, groups))
        if self.plain_reason is not None:
            return plain_label_scores(self.original_model, prompts, self.continuations, self.reduction, self.single_token)
        return self._score_fast(prompts, groups)

    def _compare_paths(self, prompts: list[list[int]], groups: list) -> str | None:
        """Both paths on three of these prompts (the largest group's shortest, middle and longest): None when they
        agree, else how they differ."""
        members = defaultdict(list)
        for index, group in enumerate(groups):
            members[group].append(index)
        group = sorted(max(members.values(), key=len), key=lambda i: len(prompts[i]))
        sample = [prompts[i] for i in dict.fromkeys([group[0], group[len(group) // 2], group[-1]])]
        plain = plain_label_scores(self.original_model, sample, self.continuations, self.reduction, self.single_token)
        try:
            difference = (self._score_fast(sample, [0] * len(sample), show_progress=False) - plain).abs().max().item()
        except torch.OutOfMemoryError:
            raise
        except RuntimeError as error:  # a model whose attention or cache the fast path does not fit
            return f"the fast path fails on it ({' '.join(str(error).split())[:120]})"
        if not difference <= TOLERANCE:
            return f"its fast-path log-probabilities differ from a plain forward pass by {difference:.1e} on the first prompts"
        return None

    def _score_fast(self, prompts: list[list[int]], groups: list, show_progress: bool = True) -> torch.Tensor:
        members = defaultdict(list)
        for index, group in enumerate(groups):
            members[group].append(index)
        scores = torch.empty(len(prompts), self.num_labels, device=self.device)
        alone: list[int] = []
        bar = progress(len(prompts), "scoring", "prompt", enabled=self.progress and show_progress)
        for indices in members.values():
            prefix_length = common_prefix_length([prompts[i] for i in indices]) if self.reuse_prefix and len(indices) > 1 else 0
            # Keep at least one token of every prompt out of the prefix: its logits score the labels.
            prefix_length = min(prefix_length, min(len(prompts[i]) for i in indices) - 1)
            if prefix_length < 1 and self.core.virtual_prompt is None:
                alone += indices
                continue
            prefix_length = max(prefix_length, 0)
            prefix_cache = self.core.encode_prefix(prompts[indices[0]][:prefix_length])
            self._score_batches(prompts, indices, prefix_length, prefix_cache, scores, bar,
                                offset=self.core.virtual_length + prefix_length)
        self._score_batches(prompts, alone, 0, None, scores, bar)
        bar.close()
        return scores.float().cpu()

    def _score_batches(self, prompts, indices, prefix_length, prefix_cache, scores, bar, offset: int | None = None) -> None:
        """Score `indices` in batches; each prompt's first `prefix_length` tokens are in `prefix_cache`, which
        holds `offset` positions (more than `prefix_length` when a soft prompt comes first)."""
        offset = prefix_length if offset is None else offset
        # Longest first: similar lengths share a batch (little padding), and the first batch is the
        # largest, so an automatic batch size that fits it fits every later one.
        order = sorted(indices, key=lambda i: -len(prompts[i]))
        if not order:
            return
        rows = self.batch_size or min(auto_batch_rows(self.device, len(prompts[order[0]]) - prefix_length),
                                      self.max_rows or len(order))

        def score(batch: list[int]) -> None:
            scores[batch] = self._score_batch([prompts[i][prefix_length:] for i in batch], offset, prefix_cache)
            bar.update(len(batch))

        fitted, largest = run_in_batches(order, rows, score, shrink=self.batch_size is None)
        if fitted < rows:
            self.max_rows = fitted  # the device ran out of memory above this: later calls start here
        self.rows_used = max(self.rows_used or 0, largest)

    def _score_batch(self, suffixes: list[list[int]], prefix_length: int, prefix_cache) -> torch.Tensor:
        batch, width = len(suffixes), max(len(s) for s in suffixes)
        lengths = [len(s) for s in suffixes]
        one_pass_words = bool(self.multi) and self.one_pass
        blocks = len(self.block_inputs) if one_pass_words else 0
        # The only positions whose logits are needed: each prompt's last token, and the word blocks.
        keep = sorted(set(length - 1 for length in lengths)) + list(range(width, width + blocks))
        column_of = {position: column for column, position in enumerate(keep)}
        # Built on the host as one array (ids, lengths, kept positions, their columns) and copied once.
        packed = [token for s in suffixes for token in s + [self.pad_id] * (width - len(s))]
        packed += lengths + keep + [column_of[length - 1] for length in lengths]
        packed = to_device(torch.tensor(packed), self.device)
        input_ids = packed[: batch * width].view(batch, width)
        lengths_t, rest = packed[batch * width : batch * width + batch], packed[batch * width + batch :]
        keep_t, column = rest[: len(keep)], rest[len(keep) :]

        arange = torch.arange(width, device=self.device)
        positions = (prefix_length + arange).expand(batch, -1)
        if one_pass_words:
            input_ids = torch.cat([input_ids, self.block_inputs.expand(batch, -1)], 1)
            positions = torch.cat([positions, prefix_length + lengths_t[:, None] + self.block_offset[None, :]], 1)
            attention_mask = word_block_mask(self.block_of, len(self.block_inputs), self.model.dtype, lengths_t, width, prefix_length)
        else:
            suffix_mask = (arange[None, :] < lengths_t[:, None]).long()
            attention_mask = torch.cat([suffix_mask.new_ones(batch, prefix_length), suffix_mask], 1) if prefix_length else suffix_mask
        cache = self.core.expanded_cache(prefix_cache, batch)
        two_pass_words = bool(self.multi) and not self.one_pass
        logits, output = self.core.kept_logits(input_ids, attention_mask, positions, cache, keep_t, use_cache=two_pass_words)
        rows = torch.arange(batch, device=self.device)
        next_token = torch.log_softmax(logits[rows, column].float(), dim=-1)
        word_scores = next_token[:, self.first_tokens]  # [batch, words]
        if one_pass_words:
            block_log_probs = torch.log_softmax(logits[:, -blocks:].float(), dim=-1)
            picked = block_log_probs.gather(-1, self.block_targets.expand(batch, -1)[..., None])[..., 0]  # [batch, block tokens]
            word_scores = word_scores + picked @ self.block_word
        elif two_pass_words:
            word_scores = word_scores + self._continue_words(cache_of(output), attention_mask, lengths_t + prefix_length)
        if self.reduction == "mean":
            word_scores = word_scores / self.word_lengths
        masked = word_scores[:, None, :].masked_fill(self.not_label_words, float("-inf"))
        return torch.logsumexp(masked, dim=-1)  # [batch, labels]

    def _continue_words(self, cache, attention_mask, ends) -> torch.Tensor:
        """Log-probability of tokens 2.. of each multi-token word, continuing every prompt's cache: [batch, words]."""
        batch, words = attention_mask.shape[0], len(self.multi)
        width = self.word_inputs.shape[1]
        cache.batch_repeat_interleave(words)  # rows: prompt 0 word 0, prompt 0 word 1, ...
        inputs, targets = self.word_inputs.repeat(batch, 1), self.word_targets.repeat(batch, 1)
        mask = torch.cat([attention_mask.repeat_interleave(words, 0), (targets >= 0).long()], 1)
        positions = ends.repeat_interleave(words)[:, None] + torch.arange(width, device=self.device)[None, :]
        logits, _ = self.core.kept_logits(inputs, mask, positions, cache, torch.arange(width, device=self.device))
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        picked = log_probs.gather(-1, targets.clamp(min=0)[..., None])[..., 0] * (targets >= 0)
        extra = torch.zeros(batch, len(self.words), device=self.device)
        extra[:, self.multi] = picked.sum(-1).view(batch, words)
        return extra
