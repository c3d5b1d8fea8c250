"""Discontinuous and continuous measures of multi-token answers, and how sharply a measure changes with scale.

Schaeffer et al. 2023 ("Are Emergent Abilities of Large Language Models a Mirage?", arXiv:2304.15004) argue that
much apparent emergence comes from the metric: exact match scores an answer of L tokens as right only if all L are,
so it behaves like p^L of a per-token accuracy p that grows smoothly, and it jumps. They compare, on the same
model outputs, the discontinuous metric with continuous ones. Here, for greedy answers to held-out problems:

- `exact_match`: the share of answers equal to the correct one (`finetune_toolkit.core.metrics.exact_match`, the one
  definition the few-shot sweep uses too; answers here have a fixed number of tokens, so this is every token right);
- `token_accuracy`: the share of answer positions whose token is right (Schaeffer et al.'s per-token measure);
- `token_edit_distance`: the mean Levenshtein distance, in tokens, between the answer and the correct one;
- `correct_answer_log_prob`: the mean over problems of log p(correct answer | problem), summed over its tokens
  (teacher-forced, the model's probability of the whole right answer; `correct_answer_token_log_prob` is the
  same per token).

`sharpness` puts one number on "how sudden": the largest improvement between neighbouring model sizes divided by
the improvement from the smallest model to the largest. 1.0 means the whole change happened in one step of the
ladder; with n sizes and an even rise it is 1/(n-1).
"""

from __future__ import annotations

import torch

from finetune_toolkit.core.metrics import exact_match, token_edit_distance

LOWER_IS_BETTER = {"token_edit_distance"}
METRICS = ("exact_match", "token_accuracy", "token_edit_distance", "correct_answer_log_prob")


@torch.no_grad()
def greedy_answers(model, prompts: torch.Tensor, answer_length: int) -> torch.Tensor:
    """`[n, answer_length]` greedy continuations of equal-length `prompts` `[n, p]` (no padding needed)."""
    sequences = prompts
    for _ in range(answer_length):
        next_tokens = model(input_ids=sequences, use_cache=False).logits[:, -1].argmax(-1)
        sequences = torch.cat([sequences, next_tokens[:, None]], dim=1)
    return sequences[:, prompts.shape[1] :]


@torch.no_grad()
def answer_log_probs(model, rows: torch.Tensor, prompt_length: int) -> torch.Tensor:
    """`[n, answer_length]` log-probabilities of each correct answer token given the problem and the answer so far."""
    logits = model(input_ids=rows, use_cache=False).logits[:, prompt_length - 1 : -1].float()
    return torch.log_softmax(logits, dim=-1).gather(-1, rows[:, prompt_length:, None]).squeeze(-1)


def _token_text(tokens: list[int]) -> str:
    return " ".join(map(str, tokens))


def answer_scores(predicted: torch.Tensor, correct: torch.Tensor, log_probs: torch.Tensor, decode=_token_text) -> dict[str, float]:
    """The four measures (see the module doc) from predicted and correct answer tokens `[n, L]` and the correct
    answers' per-token log-probabilities `[n, L]`; `decode` turns answer tokens into the text exact match compares
    (a tokenizer's `decode`; by default the token ids written out)."""
    right = predicted == correct
    distances = [token_edit_distance(p, c) for p, c in zip(predicted.tolist(), correct.tolist())]
    matched = exact_match([decode(p) for p in predicted.tolist()], [decode(c) for c in correct.tolist()])
    return {"exact_match": matched, "token_accuracy": right.float().mean().item(),
            "token_edit_distance": sum(distances) / len(distances),
            "correct_answer_log_prob": log_probs.sum(dim=1).mean().item(),
            "correct_answer_token_log_prob": log_probs.mean().item()}


def evaluate_answers(model, rows: torch.Tensor, prompt_length: int, batch_size: int = 500, decode=_token_text,
                     answers: list | None = None) -> dict[str, float]:
    """Greedy answers of `model` to the problems in `rows` (`[n, prompt + answer]` tokens), scored by `answer_scores`;
    each answer's text is appended to `answers` when it is given."""
    model.eval()
    device = next(model.parameters()).device
    predicted, log_probs = [], []
    for start in range(0, rows.shape[0], batch_size):
        batch = rows[start : start + batch_size].to(device)
        predicted.append(greedy_answers(model, batch[:, :prompt_length], batch.shape[1] - prompt_length).cpu())
        log_probs.append(answer_log_probs(model, batch, prompt_length).cpu())
    if answers is not None:
        answers.extend(decode(row) for row in torch.cat(predicted).tolist())
    return answer_scores(torch.cat(predicted), rows[:, prompt_length:], torch.cat(log_probs), decode)


def sharpness(values: list[float], higher_is_better: bool = True) -> float | None:
    """The largest improvement between neighbouring entries of `values` (ordered by model size) divided by the
    improvement from the first to the last; for a lower-is-better metric an improvement is a fall. None when the
    last model is no better than the first (nothing emerged to be sharp or smooth about), or with fewer than 2 values.
    A value above 1 means the measure overshot and fell back somewhere along the ladder."""
    if len(values) < 2:
        return None
    sign = 1.0 if higher_is_better else -1.0
    total = sign * (values[-1] - values[0])
    if total <= 0:
        return None
    return max(sign * (later - earlier) for earlier, later in zip(values, values[1:])) / total
