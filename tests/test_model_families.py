"""The fast paths against the plain path, for every model family users run.

Tiny random-weight models of nine families (weights drawn large, so attention patterns move the numbers), saved and
loaded back through the toolkit's loader. For each: label scoring and multiple-choice option scoring with a shared
prefix, right padding and batching must equal one unpadded forward pass per example (log-probs within 1e-4, the
same choices), and batched, left-padded generation must equal a plain greedy loop token for token. A model whose
sliding window is shorter than the prompts cannot be served by the fast path: it must be detected, scored on the
plain path, and said in one line.
"""

import logging
import random

import pytest
import torch
import transformers

from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.generation import GenerationArguments, generate
from finetune_toolkit.core.prompt_encoding import encode_prompt
from prompts.option_scoring import OptionScorer, plain_option_scores
from prompts.plain_scoring import plain_label_scores
from prompts.scoring import LabelScorer

from helpers import FEWSHOT_CORPUS, sentencepiece_tokenizer

WINDOW = 24  # shorter than the prompts below


def family_config(family: str, vocab_size: int):
    common = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  max_position_embeddings=256, initializer_range=0.3, bos_token_id=1, eos_token_id=2)
    if family == "gpt2":
        return transformers.GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=256,
                                       initializer_range=0.3, bos_token_id=1, eos_token_id=2)
    if family == "llama":
        return transformers.LlamaConfig(**common, num_key_value_heads=2)
    if family == "mistral":
        return transformers.MistralConfig(**common, num_key_value_heads=2, sliding_window=WINDOW)
    if family == "mistral_long_window":
        return transformers.MistralConfig(**common, num_key_value_heads=2, sliding_window=256)
    if family == "qwen2":
        return transformers.Qwen2Config(**common, num_key_value_heads=2)
    if family == "gemma2":
        return transformers.Gemma2Config(**common, num_key_value_heads=2, head_dim=8, sliding_window=WINDOW)
    if family == "phi3":
        return transformers.Phi3Config(**common, num_key_value_heads=2, pad_token_id=0)
    if family == "gpt_neox":
        return transformers.GPTNeoXConfig(**common)
    if family == "opt":
        return transformers.OPTConfig(vocab_size=vocab_size, hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
                                      max_position_embeddings=256, init_std=0.3, word_embed_proj_dim=32, bos_token_id=1,
                                      eos_token_id=2, pad_token_id=0)
    if family == "falcon":
        return transformers.FalconConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         initializer_range=0.3, new_decoder_architecture=False, alibi=False,
                                         bos_token_id=1, eos_token_id=2)
    raise ValueError(family)


FAMILIES = ["gpt2", "llama", "mistral", "mistral_long_window", "qwen2", "gemma2", "phi3", "gpt_neox", "opt", "falcon"]
SLIDING = {"mistral", "gemma2"}  # their window is shorter than the prompts: the plain path


@pytest.fixture(scope="module")
def tokenizer():
    tokenizer = sentencepiece_tokenizer(FEWSHOT_CORPUS)
    tokenizer.pad_token = tokenizer.eos_token  # saved with it, so that no family's tokenizer class adds a pad token
    return tokenizer


@pytest.fixture(scope="module", params=FAMILIES)
def family(request, tokenizer, tmp_path_factory):
    directory = tmp_path_factory.mktemp(request.param)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(family_config(request.param, len(tokenizer))).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    model, loaded_tokenizer = load_generator(str(directory))
    return request.param, model, loaded_tokenizer


def few_shot_prompts(tokenizer, count: int = 6) -> list[list[int]]:
    """Prompts that share four demonstrations (longer than WINDOW tokens) and end in queries of different lengths."""
    demonstrations = "\n\n".join(FEWSHOT_CORPUS[:4])
    queries = [FEWSHOT_CORPUS[10 + i].split("\nSentiment:")[0] + "\nSentiment:" for i in range(count)]
    prompts = [encode_prompt(tokenizer, f"{demonstrations}\n\n{query}") for query in queries]
    assert min(len(p) for p in prompts) > WINDOW and len({len(p) for p in prompts}) > 1
    return prompts


def label_words(tokenizer) -> list[list[list[int]]]:
    words = [["▁positive", "▁great"], ["▁negative"], ["▁not▁sure"]]
    return [[tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word.replace("▁", " ").strip())) for word in label] for label in words]


def test_label_scoring_equals_one_plain_forward_pass_per_prompt(family, tokenizer, caplog):
    name, model, _ = family
    prompts, continuations = few_shot_prompts(tokenizer), label_words(tokenizer)
    assert any(len(word) > 1 for label in continuations for word in label)  # multi-token words take the block path
    expected = plain_label_scores(model, prompts, continuations)
    scorer = LabelScorer(model, continuations, batch_size=4, progress=False)
    with caplog.at_level(logging.WARNING, logger="finetune_toolkit.core.fast_path"):
        scores = scorer.score(prompts, [0] * len(prompts))
    assert torch.allclose(scores, expected, atol=1e-4, rtol=0)
    assert scores.argmax(-1).tolist() == expected.argmax(-1).tolist()
    if name in SLIDING:
        assert "sliding window" in scorer.plain_reason
        assert [r.message for r in caplog.records if "plain path" in r.message] == [
            f"scoring on the plain path (one unpadded forward pass per request): {scorer.plain_reason}"]
    else:
        assert scorer.plain_reason is None and not caplog.records


def test_option_scoring_equals_one_plain_forward_pass_per_option(family, tokenizer):
    name, model, _ = family
    rng = random.Random(0)
    requests = []
    for context in few_shot_prompts(tokenizer, 4):
        for _ in range(rng.randrange(2, 5)):
            requests.append((context, [rng.randrange(3, len(tokenizer)) for _ in range(rng.randrange(1, 5))]))
    requests.append((encode_prompt(tokenizer, "a context shared with no one"), [5, 6, 7]))
    expected = plain_option_scores(model, requests)
    scorer = OptionScorer(model, batch_size=3, progress=False)
    scores = scorer.score(requests)
    assert max(abs(got[0] - want[0]) for got, want in zip(scores, expected)) < 1e-4
    assert [got[1] for got in scores] == [want[1] for want in expected]
    assert (scorer.plain_reason is not None) == (name in SLIDING)


def greedy_loop(model, ids: list[int], new_tokens: int, eos: int) -> list[int]:
    generated = []
    for _ in range(new_tokens):
        with torch.inference_mode():
            token = model(input_ids=torch.tensor([ids + generated])).logits[0, -1].argmax().item()
        if token == eos:
            break
        generated.append(token)
    return generated


@pytest.mark.parametrize("reuse_prefix", [False, True])
def test_batched_generation_equals_a_plain_greedy_loop(family, tokenizer, reuse_prefix, monkeypatch):
    """Left-padded batches, and with `reuse_prefix` the shared demonstrations' KV cache continued for every prompt."""
    from finetune_toolkit.core import generation

    _, model, loaded_tokenizer = family
    demonstrations = "\n\n".join(FEWSHOT_CORPUS[:3]) + "\n\n"
    texts = [demonstrations + FEWSHOT_CORPUS[10 + i].split("\nSentiment:")[0] for i in range(5)]
    prefixes, encode_prefix = [], generation.encode_prefix
    monkeypatch.setattr(generation, "encode_prefix", lambda m, ids, *a: prefixes.append(len(ids)) or encode_prefix(m, ids, *a))
    answers = generate(model, loaded_tokenizer, texts, GenerationArguments(max_new_tokens=8, batch_size=3),
                       reuse_prefix=reuse_prefix)
    if reuse_prefix and family[0] not in SLIDING:
        assert prefixes and max(prefixes) >= 20, "the shared demonstrations were computed once"
    else:
        assert not prefixes
    for text, (answer,) in zip(texts, answers):
        expected = greedy_loop(model, encode_prompt(loaded_tokenizer, text), 8, loaded_tokenizer.eos_token_id)
        assert answer == loaded_tokenizer.decode(expected, skip_special_tokens=True)


@pytest.mark.parametrize("reuse_prefix, reason", [(False, "differ from a plain forward pass"), (True, "the fast path fails on it")])
def test_a_family_the_rules_do_not_know_is_caught_by_comparing_both_paths(reuse_prefix, reason, tokenizer, monkeypatch, caplog):
    """Without the sliding-window rule, the comparison on the first prompts must still refuse the fast path: whether
    the fast path returns other numbers (without prefix reuse) or fails (with it)."""
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(family_config("mistral", len(tokenizer))).eval()
    monkeypatch.setattr("finetune_toolkit.core.fast_path.fast_path_problem", lambda model, longest: None)
    prompts, continuations = few_shot_prompts(tokenizer), label_words(tokenizer)
    scorer = LabelScorer(model, continuations, batch_size=4, reuse_prefix=reuse_prefix, progress=False)
    with caplog.at_level(logging.WARNING, logger="finetune_toolkit.core.fast_path"):
        scores = scorer.score(prompts, [0] * len(prompts))
    assert reason in scorer.plain_reason
    assert torch.allclose(scores, plain_label_scores(model, prompts, continuations), atol=1e-6)


def test_a_short_call_then_a_long_one_on_a_sliding_window_model_takes_the_plain_path_for_the_long_one(tokenizer):
    """The path is chosen per call from that call's longest request: a short multiple-choice task first, then rolling
    windows longer than the window, must not be scored on the fast path (whose mask drops the window)."""
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(family_config("mistral", len(tokenizer))).eval()
    scorer = OptionScorer(model, batch_size=3, progress=False)
    short = [(encode_prompt(tokenizer, "a dull plot"), [5, 6]), (encode_prompt(tokenizer, "a dull plot"), [7])]
    assert max(len(c) + len(t) for c, t in short) < WINDOW
    assert [round(s, 4) for s, _ in scorer.score(short)] == [round(s, 4) for s, _ in plain_option_scores(model, short)]
    assert scorer.plain_reason is None, "the short call fits the window: the fast path"
    long_ = [(prompt, [5, 6, 7]) for prompt in few_shot_prompts(tokenizer, 3)]
    scores, expected = scorer.score(long_), plain_option_scores(model, long_)
    assert "sliding window" in scorer.plain_reason
    assert max(abs(got[0] - want[0]) for got, want in zip(scores, expected)) < 1e-6
