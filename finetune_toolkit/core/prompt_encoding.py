"""The one way a prompt becomes token ids, for training, prediction, generation and scoring alike.

A prompt is plain text or a chat: a list of `{"role", "content"}` messages.

- Plain text is tokenized with the tokenizer's special tokens (a Llama tokenizer puts BOS in front), as the model
  saw text in pre-training.
- A chat is rendered by the tokenizer's chat template, which writes every special token itself (BOS included, for
  Llama 3, Gemma and others), and the rendered text is tokenized *without* adding special tokens on top, as
  `apply_chat_template(..., tokenize=True)` does. Adding them again would put a second BOS in front: inputs the model
  never saw in training.

Training (`finetune.instructions`), predict and evaluate with generate (`finetune.lm_predict`), `generate --chat`,
the few-shot scorer (`prompts`) and the adaptation comparison all encode through `encode_prompt`/`encode_prompts`,
so the prompt part of a training example and the prompt given at prediction time are the same ids.
"""

from __future__ import annotations

from typing import Union

from .errors import UserError

Message = dict
Prompt = Union[str, list[Message]]


def is_chat(prompt: Prompt) -> bool:
    """Whether `prompt` is a list of chat messages (rather than plain text)."""
    return isinstance(prompt, list)


def as_chat(text: str, system_prompt: str | None = None) -> list[Message]:
    """Plain text as one user turn, after a system message when one is given."""
    return ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [{"role": "user", "content": text}]


def require_chat_template(tokenizer, what: str = "chat prompts") -> None:
    """Refuse chat prompts for a tokenizer without a chat template (GPT-2, base models), naming the fix."""
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"this tokenizer has no chat template, so {what} cannot be used; use an instruction-tuned model "
                        "(e.g. packaged:SmolLM2-135M-Instruct), or give plain-text prompts")


def render_prompt(tokenizer, prompt: Prompt, add_generation_prompt: bool = True) -> str:
    """The text the model reads: plain text as it is, a chat rendered by the chat template (with the assistant's
    turn opened when `add_generation_prompt`)."""
    if not is_chat(prompt):
        return prompt
    require_chat_template(tokenizer)
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=add_generation_prompt)


def adds_special_tokens(prompt: Prompt) -> bool:
    """Whether the tokenizer adds its special tokens to this prompt's text: yes for plain text, no for a rendered
    chat, whose template wrote them."""
    return not is_chat(prompt)


def encode_prompt(tokenizer, prompt: Prompt, add_generation_prompt: bool = True, return_offsets_mapping: bool = False):
    """Token ids of one prompt (see the module docstring); with `return_offsets_mapping`, also each token's
    character span in `render_prompt(...)`'s text: `(ids, offsets)`."""
    text = render_prompt(tokenizer, prompt, add_generation_prompt)
    encoding = tokenizer(text, add_special_tokens=adds_special_tokens(prompt), return_offsets_mapping=return_offsets_mapping)
    if return_offsets_mapping:
        return encoding["input_ids"], encoding["offset_mapping"]
    return encoding["input_ids"]


def encode_prompts(tokenizer, prompts: list[Prompt], add_generation_prompt: bool = True) -> list[list[int]]:
    """Token ids of many prompts, equal to `encode_prompt` on each, in one batched call per kind."""
    if not prompts:
        return []
    ids: list[list[int] | None] = [None] * len(prompts)
    for chat in (False, True):
        indices = [i for i, prompt in enumerate(prompts) if is_chat(prompt) == chat]
        if not indices:
            continue
        texts = [render_prompt(tokenizer, prompts[i], add_generation_prompt) for i in indices]
        for i, encoded in zip(indices, _encode_texts(tokenizer, texts, add_special_tokens=not chat)):
            ids[i] = encoded
    return ids


def _encode_texts(tokenizer, texts: list[str], add_special_tokens: bool) -> list[list[int]]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    # A fast tokenizer with no truncation or padding state left set: the same ids, without the wrapper's
    # per-text conversions (a fifth of the few-shot scoring overhead, benchmarks/toolkit_overhead.py).
    if backend is not None and backend.truncation is None and backend.padding is None:
        return [encoding.ids for encoding in backend.encode_batch(texts, add_special_tokens=add_special_tokens)]
    return tokenizer(texts, add_special_tokens=add_special_tokens, verbose=False)["input_ids"]


def with_demonstrations(demonstrations: list[tuple[Prompt, str]], query: Prompt, separator: str = "\n\n") -> Prompt:
    """A k-shot prompt from (prompt, answer) demonstrations and the query. Plain text: each demonstration's prompt and
    answer, then `separator`, before the query. A chat: the demonstrations as earlier user and assistant turns (after
    the query's system message, if any), as lm-eval's `--fewshot_as_multiturn` does."""
    if not is_chat(query):
        if any(is_chat(prompt) for prompt, _ in demonstrations):
            raise UserError("demonstrations and query must both be plain text or both chats")
        return "".join(prompt + answer + separator for prompt, answer in demonstrations) + query
    system = [message for message in query[:1] if message.get("role") == "system"]
    turns = []
    for prompt, answer in demonstrations:
        messages = prompt if is_chat(prompt) else as_chat(prompt)
        turns += [message for message in messages if message.get("role") != "system"]
        turns.append({"role": "assistant", "content": answer})
    return system + turns + query[len(system):]


def encode_continuations(tokenizer, pairs: list[tuple[str, str]], special_tokens: bool = True) -> list[tuple[list[int], list[int]]]:
    """`(context ids, continuation ids)` of `(context, continuation)` text pairs, as lm-evaluation-harness encodes a
    `loglikelihood` request: whitespace at the end of the context moves to the continuation, the pair is encoded as
    one text, and the continuation is what follows the context's own encoding. So a continuation whose first token
    merges with the context's last one is scored as the model would read the whole text. Contexts are plain text,
    encoded with the tokenizer's special tokens like every prompt (`encode_prompts`), or without (`special_tokens`
    False: a fragment in the middle of a prompt, such as a label word after the template's text).

    This is the toolkit's one rule for splitting a text into context and continuation tokens: multiple-choice
    options, label words (`continuation_ids`) and trained completions all go through it."""
    moved = []
    for context, continuation in pairs:
        stripped = context.rstrip()
        moved.append((stripped, context[len(stripped):] + continuation))
    if special_tokens:
        contexts = encode_prompts(tokenizer, [context for context, _ in moved])
        wholes = encode_prompts(tokenizer, [context + continuation for context, continuation in moved])
    else:
        contexts = _encode_texts(tokenizer, [context for context, _ in moved], add_special_tokens=False)
        wholes = _encode_texts(tokenizer, [context + continuation for context, continuation in moved], add_special_tokens=False)
    return [(context_ids, whole[len(context_ids):]) for context_ids, whole in zip(contexts, wholes)]


def continuation_ids(tokenizer, context: str, continuation: str) -> list[int]:
    """The tokens `continuation` adds after the text fragment `context` (`encode_continuations`' rule, no special
    tokens). Label words are scored (`prompts`) and completions trained (`finetune.instructions`) with these tokens."""
    (_, ids), = encode_continuations(tokenizer, [(context, continuation)], special_tokens=False)
    if not ids:
        raise UserError(f"{continuation.strip()!r} adds no tokens after {context[-20:]!r}; choose another word or text")
    return ids
