"""The scorer core: what every continuation scorer does with a causal LM, written once.

The label scorer (`prompts.scoring`), the option scorer (`prompts.option_scoring`, also lm-eval's `loglikelihood`
through `finetune_toolkit.evaluation`) all go through `ScoringModel`:

- `encode_prefix`: a shared token prefix (the few-shot demonstrations) encoded once, a prompt-tuned model's soft
  prompt first; with a `prefixes.PrefixStore`, continued from the stored prefix that begins the same way;
- `expanded_cache`: that prefix's KV cache, as views, for every row of a batch;
- `kept_logits`: one forward pass after the prefix, the output layer run only at the positions that are read;
- `choose_path`: whether this call may take the fast path at all (`fast_path.choose_path`).
"""

from __future__ import annotations

import torch

from .adapter_loading import is_prompt_learning
from .fast_path import choose_path
from .prefixes import cache_argument, encode_prefix, expanded_cache, takes_logits_to_keep


class ScoringModel:
    """A causal LM as the fast scoring path runs it.

    A prompt-tuned `PeftModel` is run through its base model, with the virtual tokens' embeddings encoded as the first
    part of every prefix cache (what `PeftModel` feeds before each input); `original_model` is what was given, and
    what the plain path runs.
    """

    def __init__(self, model, prefix_store=None):
        self.original_model, self.prefix_store = model, prefix_store
        self.virtual_prompt = None  # [virtual tokens, hidden]
        if is_prompt_learning(model):
            with torch.no_grad():
                self.virtual_prompt = model.get_prompt(batch_size=1)[0].detach()
            model = model.get_base_model()
        self.model = model
        self.virtual_length = 0 if self.virtual_prompt is None else self.virtual_prompt.shape[0]
        self.takes_logits_to_keep = takes_logits_to_keep(model)
        self.cache_name = cache_argument(model)
        # FlashAttention takes no custom attention mask (the scorers' blocks of continuations need one).
        self.custom_masks = not str(getattr(model.config, "_attn_implementation", "")).startswith("flash")

    @property
    def device(self) -> torch.device:
        return self.model.device

    def encode_prefix(self, prefix: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """The KV cache of the soft prompt and `prefix`, or None when there is neither."""
        if not prefix and self.virtual_prompt is None:
            return None
        if self.prefix_store is not None and self.virtual_prompt is None:
            return self.prefix_store.encode(self.model, prefix)
        return encode_prefix(self.model, prefix, self.virtual_prompt)

    def expanded_cache(self, prefix_cache, batch: int):
        return expanded_cache(self.model, prefix_cache, batch) if prefix_cache is not None else None

    def kept_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, cache,
                    keep: torch.Tensor, use_cache: bool = False):
        """`(logits [batch, len(keep), vocab], output)` of one forward pass over rows continuing `cache`; only the
        positions in `keep` (sorted) go through the output layer where the model can be told so."""
        kwargs = {"logits_to_keep": keep} if self.takes_logits_to_keep else {}
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                            use_cache=use_cache, **{self.cache_name: cache}, **kwargs)
        return (output.logits if self.takes_logits_to_keep else output.logits[:, keep]), output

    def choose_path(self, kind: str, longest: int, compare) -> str | None:
        """None when this call takes the fast path, else why the plain path (see `fast_path.choose_path`); `longest`
        counts the call's longest request, soft prompt included here."""
        return choose_path(self.original_model, kind, self.virtual_length + longest, compare)
