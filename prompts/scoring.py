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
"""

from __future__ import annotations

import inspect
from collections import defaultdict

import torch
from tqdm.auto import tqdm

REDUCTIONS = ("sum", "mean")


def common_prefix_length(sequences: list[list[int]]) -> int:
    """Length of the longest token prefix all `sequences` share."""
    first = sequences[0]
    length = min(len(sequence) for sequence in sequences)
    for sequence in sequences[1:]:
        for i in range(length):
            if sequence[i] != first[i]:
                length = i
                break
    return length


class LabelScorer:
    """Scores label continuations after prompts with a causal LM.

    continuations: token ids per label per word, `[label][word] -> ids` (see `Verbalizer.token_ids`).
    single_token: score only each word's first token (one forward pass, no continuation pass).
    reuse_prefix: encode each group's shared prefix once (off: encode every full prompt, the baseline).
    """

    def __init__(self, model, continuations: list[list[list[int]]], reduction: str = "sum", batch_size: int = 16,
                 single_token: bool = False, reuse_prefix: bool = True, progress: bool = True):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}")
        self.model, self.reduction, self.batch_size = model, reduction, batch_size
        self.reuse_prefix, self.progress = reuse_prefix, progress
        self.words = [ids[:1] if single_token else ids for label in continuations for ids in label]
        self.word_label = torch.tensor([label for label, words in enumerate(continuations) for _ in words])
        self.num_labels = len(continuations)
        self.first_tokens = torch.tensor([ids[0] for ids in self.words])
        self.multi = [i for i, ids in enumerate(self.words) if len(ids) > 1]
        self.word_lengths = torch.tensor([len(ids) for ids in self.words], dtype=torch.float32)
        # [labels, words] mask: which words stand for which label, for the per-label logsumexp.
        self.label_words = self.word_label[None, :] == torch.arange(self.num_labels)[:, None]
        parameters = inspect.signature(model.forward).parameters
        self.takes_logits_to_keep = "logits_to_keep" in parameters
        # Transformers renamed `past_key_values` to `cache` during 5.x; accept both.
        self.cache_name = "cache" if "cache" in parameters else "past_key_values"
        self.pad_id = 0

    @property
    def device(self) -> torch.device:
        return self.model.device

    def max_continuation_length(self) -> int:
        return max(len(ids) for ids in self.words)

    @torch.inference_mode()
    def score(self, prompts: list[list[int]], groups: list | None = None) -> torch.Tensor:
        """Log-probability of each label after each prompt: a float32 tensor `[len(prompts), num_labels]`.

        `groups[i]` names the demonstrations of prompt i; prompts of one group share their prefix cache.
        """
        groups = groups if groups is not None else [0] * len(prompts)
        members = defaultdict(list)
        for index, group in enumerate(groups):
            members[group].append(index)
        scores = torch.empty(len(prompts), self.num_labels)
        alone: list[int] = []
        bar = tqdm(total=len(prompts), desc="scoring", unit="prompt", leave=False, disable=not self.progress)
        for indices in members.values():
            prefix_length = common_prefix_length([prompts[i] for i in indices]) if self.reuse_prefix and len(indices) > 1 else 0
            # Keep at least one token of every prompt out of the prefix: its logits score the labels.
            prefix_length = min(prefix_length, min(len(prompts[i]) for i in indices) - 1)
            if prefix_length < 1:
                alone += indices
                continue
            prefix_cache = self._encode_prefix(prompts[indices[0]][:prefix_length])
            self._score_batches(prompts, indices, prefix_length, prefix_cache, scores, bar)
        self._score_batches(prompts, alone, 0, None, scores, bar)
        bar.close()
        return scores

    def _encode_prefix(self, prefix: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        input_ids = torch.tensor([prefix], device=self.device)
        kwargs = {"logits_to_keep": 1} if self.takes_logits_to_keep else {}
        cache = _cache_of(self.model(input_ids=input_ids, use_cache=True, **kwargs))
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _expanded_cache(self, prefix_cache, batch: int):
        from transformers import DynamicCache

        data = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in prefix_cache]
        return DynamicCache(ddp_cache_data=data, config=self.model.config)

    def _score_batches(self, prompts, indices, prefix_length, prefix_cache, scores, bar) -> None:
        # Longest first: similar lengths share a batch (little padding) and memory peaks at the start.
        order = sorted(indices, key=lambda i: -len(prompts[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            suffixes = [prompts[i][prefix_length:] for i in batch]
            scores[batch] = self._score_batch(suffixes, prefix_length, prefix_cache).cpu()
            bar.update(len(batch))

    def _score_batch(self, suffixes: list[list[int]], prefix_length: int, prefix_cache) -> torch.Tensor:
        batch, width = len(suffixes), max(len(s) for s in suffixes)
        lengths = torch.tensor([len(s) for s in suffixes], device=self.device)
        input_ids = torch.full((batch, width), self.pad_id, dtype=torch.long, device=self.device)
        for row, suffix in enumerate(suffixes):
            input_ids[row, : len(suffix)] = torch.tensor(suffix, device=self.device)
        suffix_mask = (torch.arange(width, device=self.device)[None, :] < lengths[:, None]).long()
        attention_mask = torch.cat([torch.ones(batch, prefix_length, dtype=torch.long, device=self.device), suffix_mask], 1)
        positions = prefix_length + torch.arange(width, device=self.device).expand(batch, -1)
        cache = self._expanded_cache(prefix_cache, batch) if prefix_cache is not None else None

        last = lengths - 1
        kwargs = {}
        keep = torch.unique(last)
        if self.takes_logits_to_keep:
            kwargs["logits_to_keep"] = keep
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                            use_cache=bool(self.multi), **{self.cache_name: cache}, **kwargs)
        logits = output.logits
        column = torch.searchsorted(keep, last) if self.takes_logits_to_keep else last
        next_token = torch.log_softmax(logits[torch.arange(batch, device=self.device), column].float(), dim=-1)
        word_scores = next_token[:, self.first_tokens.to(self.device)]  # [batch, words]
        if self.multi:
            word_scores = word_scores + self._continue_words(_cache_of(output), attention_mask, lengths + prefix_length)
        if self.reduction == "mean":
            word_scores = word_scores / self.word_lengths.to(self.device)
        masked = word_scores[:, None, :].masked_fill(~self.label_words.to(self.device), float("-inf"))
        return torch.logsumexp(masked, dim=-1)  # [batch, labels]

    def _continue_words(self, cache, attention_mask, ends) -> torch.Tensor:
        """Log-probability of tokens 2.. of each multi-token word, continuing every prompt's cache: [batch, words]."""
        batch, words = attention_mask.shape[0], len(self.multi)
        width = max(len(self.words[w]) for w in self.multi) - 1
        cache.batch_repeat_interleave(words)  # rows: prompt 0 word 0, prompt 0 word 1, ...
        inputs = torch.full((batch * words, width), self.pad_id, dtype=torch.long, device=self.device)
        targets = torch.full((batch * words, width), -1, dtype=torch.long, device=self.device)
        for column, w in enumerate(self.multi):
            ids = self.words[w]
            inputs[column::words, : len(ids) - 1] = torch.tensor(ids[:-1], device=self.device)
            targets[column::words, : len(ids) - 1] = torch.tensor(ids[1:], device=self.device)
        mask = torch.cat([attention_mask.repeat_interleave(words, 0), (targets >= 0).long()], 1)
        positions = ends.repeat_interleave(words)[:, None] + torch.arange(width, device=self.device)[None, :]
        kwargs = {"logits_to_keep": width} if self.takes_logits_to_keep else {}
        logits = self.model(input_ids=inputs, attention_mask=mask, position_ids=positions,
                            use_cache=False, **{self.cache_name: cache}, **kwargs).logits[:, -width:]
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        picked = log_probs.gather(-1, targets.clamp(min=0)[..., None])[..., 0] * (targets >= 0)
        extra = torch.zeros(batch, len(self.words), device=self.device)
        extra[:, self.multi] = picked.sum(-1).view(batch, words)
        return extra


def _cache_of(output):
    cache = output.get("cache")
    return cache if cache is not None else output.past_key_values
