"""Instruments for in-context learning inside a causal LM: per-position loss, the ICL score, induction heads.

Definitions follow Olsson et al. 2022, "In-context Learning and Induction Heads" (transformer-circuits.pub/2022/
in-context-learning-and-induction-heads; arXiv:2209.11895):

- **In-context learning score**: "the loss of the 500th token in the context minus the average loss of the 50th
  token in the context, averaged over dataset examples". Negative when later tokens are predicted better, i.e.
  when the model uses its context. Here "the k-th token" is 1-based: the token at index k-1, predicted from the
  k-1 tokens before it. For contexts shorter than 500 tokens both positions are scaled by context / 500.
- **Prefix-matching score** of a head: on a sequence of random tokens repeated twice, the attention each token of
  the second copy pays to the token that followed its previous occurrence (the token "induction would suggest comes
  next"), averaged over the second copy and the sequences. An induction head scores near 1; a head that looks
  elsewhere near 0.
- **Repeated-half loss**: on the same sequences, the mean loss on the second copy (its first token excluded: nothing
  predicts it) against the mean loss on the first copy (its first token excluded too). Random tokens cannot be
  predicted from the first copy; only copying from context predicts the second.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from finetune_toolkit.core.errors import UserError

DEFAULT_EARLY, DEFAULT_LATE = 50, 500


@dataclass
class InductionScores:
    """Per-head prefix-matching scores `[layers, heads]` and the two halves' losses on repeated random tokens."""

    prefix_matching: torch.Tensor
    first_half_loss: float
    repeated_half_loss: float

    @property
    def best_head(self) -> tuple[int, int]:
        index = int(self.prefix_matching.argmax())
        return divmod(index, self.prefix_matching.shape[1])

    @property
    def best_score(self) -> float:
        return float(self.prefix_matching.max())

    def as_dict(self) -> dict:
        layer, head = self.best_head
        return {"best_prefix_matching": self.best_score, "best_head": f"layer {layer} head {head}",
                "first_half_loss": self.first_half_loss, "repeated_half_loss": self.repeated_half_loss,
                "prefix_matching": [[round(float(x), 4) for x in row] for row in self.prefix_matching]}


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def token_losses(model, input_ids: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
    """Cross-entropy of every token given the tokens before it: `[sequences, length]`, column 0 is NaN (nothing
    predicts the first token)."""
    if input_ids.dim() != 2 or input_ids.shape[1] < 2:
        raise UserError("loss per position needs sequences of at least 2 tokens")
    rows = []
    device = _device(model)
    for start in range(0, input_ids.shape[0], batch_size):
        batch = input_ids[start : start + batch_size].to(device)
        logits = model(input_ids=batch, use_cache=False).logits.float()
        losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), batch[:, 1:], reduction="none")
        rows.append(torch.cat([torch.full((batch.shape[0], 1), float("nan"), device=device), losses], 1).cpu())
    return torch.cat(rows)


def per_position_loss(model, input_ids: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
    """Mean loss at each position over the sequences: `[length]` (index 0 NaN)."""
    return token_losses(model, input_ids, batch_size).mean(0)


def icl_positions(context: int, early: int = DEFAULT_EARLY, late: int = DEFAULT_LATE, scale: bool = True) -> tuple[int, int]:
    """The (early, late) 1-based token positions for contexts of `context` tokens.

    With `scale` (the defaults), a context shorter than `late` scales both positions by context / late, as the
    positions were chosen for 500+-token contexts. Explicit positions beyond the context are refused.
    """
    if not 2 <= early < late:
        raise UserError(f"ICL score positions must satisfy 2 <= early < late; got early {early}, late {late}")
    if late > context:
        if not scale:
            raise UserError(f"ICL score position {late} is beyond the context of {context} tokens; pass --icl_late {context} or less")
        early, late = max(2, round(early * context / late)), context
        if early >= late:
            raise UserError(f"a context of {context} tokens is too short for an ICL score; use sequences of at least 20 tokens")
    return early, late


def icl_score(model, input_ids: torch.Tensor, early: int = DEFAULT_EARLY, late: int = DEFAULT_LATE, scale: bool = True,
              batch_size: int = 16) -> dict:
    """Olsson et al.'s in-context learning score on `input_ids` `[sequences, length]` of held-out text.

    Returns `icl_score` (loss of the `late`-th token minus loss of the `early`-th, averaged over sequences),
    the two losses, the positions used and the mean loss.
    """
    if scale or late > input_ids.shape[1]:
        early, late = icl_positions(input_ids.shape[1], early, late, scale)
    losses = per_position_loss(model, input_ids, batch_size)
    return {"icl_score": float(losses[late - 1] - losses[early - 1]), "early_loss": float(losses[early - 1]),
            "late_loss": float(losses[late - 1]), "early_position": early, "late_position": late,
            "loss": float(losses[1:].mean())}


def repeated_random_tokens(vocab_size: int, count: int, lengths: tuple[int, ...] = (8, 12, 16, 20), seed: int = 0,
                           avoid: tuple[int, ...] = ()) -> list[torch.Tensor]:
    """`count` sequences of random tokens repeated twice, `[r, r]`, the halves' lengths cycling through `lengths`
    (varied, so that no fixed distance can stand in for induction). Tokens are distinct within a half."""
    generator = torch.Generator().manual_seed(seed)
    allowed = torch.tensor([t for t in range(vocab_size) if t not in set(avoid)])
    if len(allowed) < max(lengths):
        raise UserError(f"the vocabulary has {len(allowed)} usable tokens, fewer than a half of {max(lengths)}")
    sequences = []
    for index in range(count):
        half = allowed[torch.randperm(len(allowed), generator=generator)[: lengths[index % len(lengths)]]]
        sequences.append(torch.cat([half, half]))
    return sequences


@contextlib.contextmanager
def attention_weights_available(model) -> Iterator[None]:
    """Switch the model to eager attention (the kernel that returns attention weights) for the block."""
    original = getattr(model.config, "_attn_implementation", None)
    if original not in (None, "eager"):
        try:
            model.set_attn_implementation("eager")
        except (ValueError, AttributeError, NotImplementedError) as error:
            raise UserError(f"the model cannot return attention weights ({error}); induction scores need them") from None
    try:
        yield
    finally:
        if original not in (None, "eager"):
            model.set_attn_implementation(original)


@torch.no_grad()
def induction_scores(model, sequences: list[torch.Tensor]) -> InductionScores:
    """Prefix-matching score of every head and the two halves' losses on `[r, r]` sequences (see module doc)."""
    device = _device(model)
    totals, counts = None, 0
    first_losses, repeated_losses = [], []
    by_length: dict[int, list[torch.Tensor]] = {}
    for sequence in sequences:  # one forward pass per length
        by_length.setdefault(sequence.shape[0], []).append(sequence)
    with attention_weights_available(model):
        for length, group in by_length.items():
            half = length // 2
            ids = torch.stack(group).to(device)
            output = model(input_ids=ids, output_attentions=True, use_cache=False)
            attentions = getattr(output, "attentions", None)
            if not attentions or any(a is None for a in attentions):
                raise UserError(f"model {type(model).__name__} returns no attention weights; induction scores need a model "
                                "whose attention outputs Transformers exposes (GPT-2, Llama, ...)")
            weights = torch.stack([a.float() for a in attentions])  # [layers, batch, heads, query, key]
            queries = torch.arange(half, 2 * half, device=device)
            keys = queries - half + 1  # the token after the previous occurrence of the query's token
            scores = weights[:, :, :, queries, keys].sum((1, 3))  # [layers, heads]
            totals = scores if totals is None else totals + scores
            counts += len(queries) * len(group)
            losses = torch.nn.functional.cross_entropy(output.logits[:, :-1].float().transpose(1, 2), ids[:, 1:], reduction="none")
            first_losses.append(losses[:, : half - 1].flatten())  # tokens 1 .. half-1
            repeated_losses.append(losses[:, half:].flatten())  # tokens half+1 .. 2*half-1
    return InductionScores(prefix_matching=(totals / counts).cpu(), first_half_loss=float(torch.cat(first_losses).mean()),
                           repeated_half_loss=float(torch.cat(repeated_losses).mean()))


def attention_output_projection(model, layer: int) -> torch.nn.Module:
    """The linear layer that mixes layer `layer`'s concatenated head outputs back into the residual stream:
    GPT-2's `attn.c_proj`, Llama's (and most decoders') `self_attn.o_proj`."""
    body = model.base_model  # GPT2Model, LlamaModel, ...: the decoder without its output layer
    blocks = getattr(body, "h", None) or getattr(body, "layers", None)
    if blocks is None:
        raise UserError(f"cannot find the layers of {type(model).__name__}; head ablation knows GPT-2 and Llama-style models")
    attention = getattr(blocks[layer], "attn", None) or getattr(blocks[layer], "self_attn", None)
    projection = getattr(attention, "c_proj", None) or getattr(attention, "o_proj", None)
    if projection is None:
        raise UserError(f"cannot find the attention output projection of {type(model).__name__} layer {layer}")
    return projection


@contextlib.contextmanager
def ablate_heads(model, heads: Iterable[tuple[int, int]]) -> Iterator[None]:
    """Zero the outputs of `heads` (`(layer, head)` pairs) inside the block: zero ablation, as in Olsson et al. 2022's
    ablation experiments. A pre-hook on each layer's attention output projection zeroes those heads' slices of the
    concatenated head outputs; the hooks are removed after the block, so the model is unchanged."""
    layers, count = model.config.num_hidden_layers, model.config.num_attention_heads
    width = model.config.hidden_size // count
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        if not (0 <= layer < layers and 0 <= head < count):
            raise UserError(f"no head {head} in layer {layer}: the model has {layers} layers of {count} heads")
        by_layer.setdefault(layer, []).append(head)

    def zeroing(chosen: list[int]):
        def zero_heads(module, inputs):
            hidden = inputs[0].clone()
            for head in chosen:
                hidden[..., head * width : (head + 1) * width] = 0
            return (hidden, *inputs[1:])
        return zero_heads

    handles = [attention_output_projection(model, layer).register_forward_pre_hook(zeroing(chosen))
               for layer, chosen in by_layer.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def head_ablation(model, sequences: list[torch.Tensor], heads: list[tuple[int, int]]) -> dict:
    """The repeated-half loss on `[r, r]` sequences with `heads` (the induction heads) ablated together, and the mean
    of the repeated-half losses with each other head ablated alone. Olsson et al. show that ablating induction heads
    removes most in-context copying. Heads of the same circuit count among the others: a previous-token head in an
    earlier layer feeds the induction head's keys, so ablating it hurts copying too."""
    with ablate_heads(model, heads):
        ablated = induction_scores(model, sequences).repeated_half_loss
    others = []
    for layer in range(model.config.num_hidden_layers):
        for head in range(model.config.num_attention_heads):
            if (layer, head) not in heads:
                with ablate_heads(model, [(layer, head)]):
                    others.append(induction_scores(model, sequences).repeated_half_loss)
    return {"repeated_half_loss_induction_heads_ablated": ablated,
            "repeated_half_loss_other_heads_ablated_mean": sum(others) / len(others) if others else None}
