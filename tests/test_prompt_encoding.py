"""One prompt encoding: a tokenizer that adds BOS and a chat template that writes BOS give the same prompt ids in
training and in prediction, token for token, with one BOS."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from finetune.instructions import encode_messages, encode_prompt_completion
from finetune.lm_predict import pairs_from_split
from finetune_toolkit.core.generation import GenerationArguments, generate
from finetune_toolkit.core.prompt_encoding import as_chat, encode_prompt, encode_prompts, with_demonstrations

from helpers import FEWSHOT_CORPUS, sentencepiece_tokenizer

# Like Llama 3's and Gemma's templates: the template writes BOS itself, and the tokenizer adds BOS to plain text too.
CHAT_TEMPLATE = ("{{ bos_token }}{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
                 "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
MESSAGES = [{"role": "system", "content": "Label the review."}, {"role": "user", "content": "the film was good"},
            {"role": "assistant", "content": "positive"}]


@pytest.fixture(scope="module")
def chat_tokenizer():
    tokenizer = sentencepiece_tokenizer(FEWSHOT_CORPUS + ["Label the review."])
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.pad_token = tokenizer.eos_token
    assert tokenizer("x")["input_ids"][0] == tokenizer.bos_token_id  # the tokenizer adds BOS to plain text
    return tokenizer


@pytest.fixture(scope="module")
def chat_model(chat_tokenizer):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(chat_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, max_position_embeddings=128, bos_token_id=chat_tokenizer.bos_token_id,
                         eos_token_id=chat_tokenizer.eos_token_id, pad_token_id=chat_tokenizer.pad_token_id)
    return LlamaForCausalLM(config).eval()


def ids_given_to_generate(model, tokenizer, prompts, args, monkeypatch) -> list[list[int]]:
    """The unpadded prompt ids `generate` hands to `model.generate`."""
    seen = []
    original = model.generate

    def spy(input_ids, attention_mask, **kwargs):
        seen.extend(ids[mask.bool()].tolist() for ids, mask in zip(input_ids, attention_mask))
        return original(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    generate(model, tokenizer, prompts, args)
    return seen


def test_chat_prompt_ids_at_prediction_equal_the_prompt_part_of_the_training_ids(chat_tokenizer, chat_model, monkeypatch):
    training = encode_messages(chat_tokenizer, MESSAGES, completion_only_loss=True)
    pairs = pairs_from_split({"messages": [MESSAGES]}, "messages", {"messages": "messages"}, chat_tokenizer, "test")
    (predicted,) = ids_given_to_generate(chat_model, chat_tokenizer, pairs.prompts, GenerationArguments(max_new_tokens=2), monkeypatch)
    assert training["input_ids"][: len(predicted)] == predicted
    bos = chat_tokenizer.bos_token_id
    assert predicted[0] == bos and predicted.count(bos) == 1  # one BOS, written by the template
    # The labels start exactly where the prompt ends: the answer is learnt, the prompt is not.
    first_label = next(i for i, label in enumerate(training["labels"]) if label != -100)
    assert first_label == len(predicted)


def test_generate_chat_encodes_a_text_prompt_as_one_user_turn(chat_tokenizer, chat_model, monkeypatch):
    args = GenerationArguments(max_new_tokens=2, chat=True, system_prompt="Label the review.")
    (predicted,) = ids_given_to_generate(chat_model, chat_tokenizer, ["the film was good"], args, monkeypatch)
    assert predicted == encode_prompt(chat_tokenizer, MESSAGES[:2])
    assert chat_tokenizer.decode(predicted) == (  # what the template writes, by hand
        "<s><|im_start|>system\nLabel the review.<|im_end|>\n<|im_start|>user\nthe film was good<|im_end|>\n<|im_start|>assistant\n")


def test_prompt_completion_ids_at_prediction_equal_the_prompt_part_of_the_training_ids(chat_tokenizer, chat_model, monkeypatch):
    prompt = "Review: the film was good\nSentiment:"
    training = encode_prompt_completion(chat_tokenizer, prompt, " positive", completion_only_loss=True)
    (predicted,) = ids_given_to_generate(chat_model, chat_tokenizer, [prompt], GenerationArguments(max_new_tokens=2), monkeypatch)
    assert training["input_ids"][: len(predicted)] == predicted and predicted.count(chat_tokenizer.bos_token_id) == 1
    assert training["labels"][: len(predicted)] == [-100] * len(predicted)


def test_batched_encoding_equals_one_at_a_time(chat_tokenizer):
    prompts = ["the film was good", MESSAGES[:2], "a dull plot", as_chat("hello")]
    assert encode_prompts(chat_tokenizer, prompts) == [encode_prompt(chat_tokenizer, prompt) for prompt in prompts]


def test_demonstrations_go_before_a_text_query_and_become_earlier_turns_of_a_chat():
    demonstrations = [("Q: 1+1?\nA:", " 2"), ("Q: 2+2?\nA:", " 4")]
    assert with_demonstrations(demonstrations, "Q: 3+3?\nA:") == "Q: 1+1?\nA: 2\n\nQ: 2+2?\nA: 4\n\nQ: 3+3?\nA:"
    query = [{"role": "system", "content": "Add."}, {"role": "user", "content": "3+3?"}]
    chat_demonstrations = [([{"role": "user", "content": "1+1?"}], "2"), ("2+2?", "4")]
    assert with_demonstrations(chat_demonstrations, query) == [
        {"role": "system", "content": "Add."}, {"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"},
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "3+3?"}]
