"""Text generation with any causal LM: batched with left padding, greedy/beam/sampling, stop strings, chat.

    from finetune_toolkit.core.generation import GenerationArguments, generate
    from .causal_lm import load_generator
    model, tokenizer = load_generator("gpt2")
    texts = generate(model, tokenizer, ["Once upon a time"], GenerationArguments(max_new_tokens=20))
"""

from __future__ import annotations

import logging
import warnings

import torch
from transformers import set_seed

from .adapter_loading import is_prompt_learning
from .causal_lm import context_length, prepare_tokenizer
from .decoding_arguments import DecodingArguments, GenerationArguments  # noqa: F401 (re-exported)
from .device import map_across_processes, run_in_batches, to_device
from .errors import UserError
from .fast_path import fast_path_problem
from .metrics import generation_scores
from .prefixes import cache_argument, encode_prefix, expanded_cache, prefix_runs
from .progress import progress
from .prompt_encoding import Prompt, as_chat, encode_prompts, is_chat, require_chat_template

logger = logging.getLogger(__name__)
# Prompts a batch when --batch_size is not given (a GPU's is halved until it fits).
AUTO_GPU_BATCH, AUTO_CPU_BATCH, AUTO_CPU_TOKENS = 256, 32, 16384


def auto_generation_rows(device: torch.device, longest: int) -> int:
    """Prompts per `generate` call when no batch size is given, for prompts of at most `longest` tokens with their
    answers. A GPU starts at 256 and is halved on out-of-memory. A CPU takes 32: each decoding step reads every
    weight once whatever the batch, so wider batches are cheaper per answer (with SmolLM2-135M on 2 cores, 32 beat
    16 by 8-35%); fewer for long prompts, at most 16k tokens a batch, as a CPU does not report running out of
    memory, it swaps."""
    if device.type == "cuda":
        return AUTO_GPU_BATCH
    return max(1, min(AUTO_CPU_BATCH, AUTO_CPU_TOKENS // max(1, longest)))


def chat_prompts(prompts: list[Prompt], args: DecodingArguments) -> list[Prompt]:
    """With `--chat`, each plain-text prompt becomes one user turn (after `--system_prompt`); chats stay as they are."""
    if not args.chat:
        return list(prompts)
    return [prompt if is_chat(prompt) else as_chat(prompt, args.system_prompt) for prompt in prompts]


def _encode(tokenizer, model, prompts: list[Prompt], args: DecodingArguments) -> list[list[int]]:
    """Token ids of each prompt (`encode_prompts`), cut from the left when prompt + answer exceed the context."""
    if any(is_chat(prompt) for prompt in prompts):
        require_chat_template(tokenizer, "--chat and chat prompts")
    encoded = encode_prompts(tokenizer, prompts)
    limit = context_length(model)
    if limit is None:
        return encoded
    budget = limit - (args.max_new_tokens or 0) if args.max_length is None else min(limit, args.max_length) - 1
    if budget < 1:
        raise UserError(f"--max_new_tokens {args.max_new_tokens} leaves no room for a prompt in the model's {limit}-token context")
    too_long = [i for i, ids in enumerate(encoded) if len(ids) > budget]
    if too_long and not args.truncate_prompt:
        raise UserError(
            f"prompt {too_long[0] + 1} has {len(encoded[too_long[0]])} tokens, more than the {budget} that fit with the "
            f"answer in the model's {limit}-token context; shorten it, lower --max_new_tokens, or drop --no_truncate_prompt"
        )
    if too_long:
        logger.warning("%d prompt(s) longer than %d tokens were cut from the left", len(too_long), budget)
    return [ids[-budget:] for ids in encoded]


def cut_at_stop(text: str, stops: list[str]) -> str:
    """The text before the first occurrence of any stop string."""
    positions = [text.find(stop) for stop in stops if stop and stop in text]
    return text[: min(positions)] if positions else text


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[Prompt], args: GenerationArguments | None = None, streamer=None,
             synced_gpus: bool = False, reuse_prefix: bool = False) -> list[list[str]]:
    """Continue each prompt (plain text or chat messages, encoded by `encode_prompts`); returns, for each prompt,
    `num_return_sequences` generated texts (prompt excluded).

    Prompts are sorted by length and generated in batches of `batch_size` with left padding (so
    little padding is wasted), then returned in the input order. Stop strings end a sequence and
    are cut from its text. A `streamer` (e.g. `TextStreamer`) prints tokens as they come: one prompt only.
    `synced_gpus` keeps every process stepping until all are done (FSDP and DeepSpeed ZeRO-3 shard the weights,
    so every forward pass needs every process); the batch size is then never shrunk.
    `reuse_prefix`: prompts that share a token prefix (few-shot demonstrations) are batched together and the prefix
    is computed once, its KV cache continued for every prompt (greedy or sampled, one sequence per prompt, on
    models whose cache continues exactly: `fast_path.fast_path_problem`); each prompt's own tokens are left-padded
    after it.
    """
    args = args or GenerationArguments()
    if not prompts:
        return []
    if streamer is not None and (len(prompts) > 1 or args.num_beams > 1 or args.num_return_sequences > 1):
        raise UserError("streaming shows one answer as it is generated: use it with one prompt, --num_beams 1 and one sequence")
    prepare_tokenizer(tokenizer, model)
    encoded = _encode(tokenizer, model, chat_prompts(prompts, args), args)
    return generate_from_ids(model, tokenizer, encoded, args, streamer, synced_gpus, reuse_prefix)


@torch.inference_mode()
def generate_from_ids(model, tokenizer, encoded: list[list[int]], args: GenerationArguments, streamer=None,
                      synced_gpus: bool = False, reuse_prefix: bool = False, show_progress: bool = True) -> list[list[str]]:
    """`generate` for prompts already encoded (and cut to fit): for callers that tokenize as another tool does, such as
    the lm-evaluation-harness backend (`finetune_toolkit.evaluation`). Same batching, stops and prefix reuse."""
    if not encoded:
        return []
    prepare_tokenizer(tokenizer, model)
    if getattr(args, "seed", None) is not None:
        set_seed(args.seed)
    # max_length counts each prompt's own tokens (as in pipeline()), not its padded batch length.
    budgets = [args.max_new_tokens or args.max_length - len(ids) for ids in encoded]
    # Longest first: the first batch needs the most memory, so an automatic size that fits it fits the rest.
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    outputs: list[list[str]] = [[] for _ in encoded]
    longest = max(len(ids) + budget for ids, budget in zip(encoded, budgets))
    rows = args.batch_size or auto_generation_rows(model.device, longest)
    soft_prompt = is_prompt_learning(model)
    if soft_prompt:
        # peft puts the virtual tokens before the padding and ignores position ids, so a left-padded prompt
        # would be read at shifted positions: generate prompt-tuned models one prompt at a time, unpadded.
        rows = 1

    bar = progress(len(encoded), "generating", "prompt", enabled=streamer is None and show_progress)
    decoding = _decoding_kwargs(args, tokenizer)

    def generate_batch(batch: list[int], prefix: list[int], prefix_cache) -> None:
        inputs = tokenizer.pad({"input_ids": [encoded[i][len(prefix):] for i in batch]}, return_tensors="pt")
        cache = {}
        if prefix:  # the shared prefix in front of the left-padded rest; its KV cache is computed already
            shared = torch.tensor([prefix] * len(batch), dtype=inputs["input_ids"].dtype)
            inputs = {"input_ids": torch.cat([shared, inputs["input_ids"]], 1),
                      "attention_mask": torch.cat([torch.ones_like(shared), inputs["attention_mask"]], 1)}
            cache = {cache_argument(model): expanded_cache(model, prefix_cache, len(batch))}
        inputs = {name: to_device(tensor, model.device) for name, tensor in inputs.items()}
        with warnings.catch_warnings():
            if soft_prompt:  # see above: one unpadded prompt, whose positions are the default ones anyway
                warnings.filterwarnings("ignore", message="Position ids are not supported for parameter efficient tuning")
            generated = model.generate(
                **inputs, **cache, **decoding, max_new_tokens=max(budgets[i] for i in batch), tokenizer=tokenizer,
                streamer=streamer, **({"synced_gpus": True} if synced_gpus else {})
            )
        new_tokens = generated[:, inputs["input_ids"].shape[1] :].cpu()  # one copy back per batch
        for row, tokens in enumerate(new_tokens):
            prompt_index = batch[row // args.num_return_sequences]
            text = tokenizer.decode(tokens[: budgets[prompt_index]], skip_special_tokens=True)
            outputs[prompt_index].append(cut_at_stop(text, args.stop))
        bar.update(len(batch))

    shares_prefixes = (reuse_prefix and not soft_prompt and not synced_gpus and streamer is None and args.num_beams == 1
                       and args.num_return_sequences == 1
                       and fast_path_problem(model, max(map(len, encoded)) + max(budgets)) is None)
    for group, prefix_length in (prefix_groups(encoded) if shares_prefixes else [(order, 0)]):
        prefix = encoded[group[0]][:prefix_length]
        prefix_cache = encode_prefix(model, prefix) if prefix else None
        group = sorted(group, key=lambda i: -len(encoded[i]))
        run_in_batches(group, rows, lambda batch: generate_batch(batch, prefix, prefix_cache),
                       shrink=args.batch_size is None and not synced_gpus)
    bar.close()
    return outputs


def prefix_groups(encoded: list[list[int]], shortest: int = 8) -> list[tuple[list[int], int]]:
    """Prompts (indices) grouped by the token prefix they share (`prefixes.prefix_runs`), with its length; prompts
    that share fewer than `shortest` tokens with any other form one last group without a prefix."""
    runs = prefix_runs(encoded)
    alone = [i for run, shared in runs if len(run) == 1 or shared < shortest for i in run]
    return [(run, shared) for run, shared in runs if len(run) > 1 and shared >= shortest] + ([(alone, 0)] if alone else [])


def generate_across_processes(model, tokenizer, prompts: list[Prompt], args: GenerationArguments | None = None,
                              synced_gpus: bool = False, reuse_prefix: bool = False) -> list[list[str]]:
    """`generate` with the prompts shared out between the processes `accelerate launch` started (a contiguous share
    each) and the answers gathered back in prompt order on every process. One process: plain `generate`.
    With `synced_gpus` (sharded weights) every process gets an equally long share, padded with repeats that are
    dropped after gathering, so that all take the same number of steps."""
    return map_across_processes(lambda share: generate(model, tokenizer, share, args, synced_gpus=synced_gpus,
                                                       reuse_prefix=reuse_prefix), list(prompts), pad=synced_gpus)


def score_generated(tokenizer, answers: list[str], references: list[str], seconds: float) -> dict[str, float]:
    """`finetune_toolkit.core.metrics.generation_scores` of `answers` against `references`, with the mean generated length in
    tokens (`gen_len`) and generation tokens/s over `seconds` of generating."""
    lengths = [len(tokenizer(answer, add_special_tokens=False)["input_ids"]) for answer in answers]
    scores = generation_scores(answers, references)
    scores.update(gen_len=sum(lengths) / len(lengths), generation_tokens_per_second=sum(lengths) / max(seconds, 1e-9))
    return scores


def stops_early(tokenizer, stops: list[str]) -> bool:
    """Whether `generate` can stop at `stops` as they appear (Transformers' `StopStringCriteria`). It reads every token
    of the vocabulary as text, which some tokenizers cannot do (a word-level vocabulary with a fusing decoder); for
    those, answers are still cut at the first stop string, only after `max_new_tokens`."""
    from transformers import StopStringCriteria

    try:
        StopStringCriteria(tokenizer, stops)
    except ValueError as error:
        logger.warning("this tokenizer cannot stop generation early at %s (%s); answers are cut there afterwards",
                       stops, " ".join(str(error).split())[:80])
        return False
    return True


def _decoding_kwargs(args: GenerationArguments, tokenizer=None) -> dict:
    kwargs = {
        "do_sample": args.do_sample,
        "num_beams": args.num_beams,
        "num_return_sequences": args.num_return_sequences,
    }
    for name in ("temperature", "top_k", "top_p", "repetition_penalty"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    if not args.do_sample:
        # Models ship sampling defaults in generation_config; greedy/beam must not warn about them.
        kwargs.update(temperature=None, top_k=None, top_p=None)
    if args.stop and (tokenizer is None or stops_early(tokenizer, args.stop)):
        kwargs["stop_strings"] = args.stop
    return kwargs
