"""The plain path: continuations scored with one unpadded forward pass per prompt and word, nothing shared.

It is what the fast path (`scoring.LabelScorer`, `option_scoring.OptionScorer`) must equal, and what they fall back
to for a model the fast path cannot serve exactly (`finetune_toolkit.core.fast_path`). A prompt-tuned model runs
through its `PeftModel`, which puts the virtual tokens in front itself.
"""

from __future__ import annotations

import torch

from finetune_toolkit.core.device import to_device
from finetune_toolkit.core.prefixes import takes_logits_to_keep


@torch.inference_mode()
def next_token_log_probs(model, context: list[int], continuation: list[int]) -> torch.Tensor:
    """`[len(continuation), vocab]`: the distribution before each token of `continuation` after `context`, from one
    forward pass over both, unpadded."""
    ids = to_device(torch.tensor([context + continuation[:-1]], dtype=torch.long), model.device)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a `peft` model passes it on
    # Only the positions read go through the output layer: the vocabulary projection dominates a short pass.
    kept = {"logits_to_keep": len(continuation)} if takes_logits_to_keep(base) else {}
    return torch.log_softmax(model(input_ids=ids, **kept).logits[0, -len(continuation):].float(), dim=-1).cpu()


def continuation_log_probs(model, context: list[int], continuation: list[int]) -> torch.Tensor:
    """Log-probability of each token of `continuation` after `context`."""
    return next_token_log_probs(model, context, continuation)[torch.arange(len(continuation)), torch.tensor(continuation)]


def plain_label_scores(model, prompts: list[list[int]], continuations: list[list[list[int]]], reduction: str = "sum",
                       single_token: bool = False) -> torch.Tensor:
    """Log-probability of each label after each prompt, `[len(prompts), labels]`, as `LabelScorer.score` defines it:
    the log of the summed probabilities of the label's words, a word's being the sum (or mean) of its tokens'."""
    scores = torch.empty(len(prompts), len(continuations))
    for row, prompt in enumerate(prompts):
        for label, words in enumerate(continuations):
            word_scores = []
            for ids in words:
                ids = ids[:1] if single_token else ids
                token_log_probs = continuation_log_probs(model, prompt, ids)
                word_scores.append(token_log_probs.mean() if reduction == "mean" else token_log_probs.sum())
            scores[row, label] = torch.logsumexp(torch.stack(word_scores), dim=0)
    return scores
