"""Instruction data, padding-free packing, LoRA and prompt tuning (`peft`), and loading adapter directories."""

import json
from pathlib import Path

import pytest
import torch

from finetune_toolkit.core.errors import UserError

from helpers import load_script, sentiment_rows, write_rows

LM_FLAGS = ["--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "32", "--save_strategy", "no",
            "--report_to", "none", "--disable_tqdm", "true", "--seed", "0", "--logging_steps", "1000"]


def instruction_rows(rows):
    return [{"prompt": f"Review: {row['text']}\nSentiment:", "completion": " " + ("positive" if row["label"] else "negative")}
            for row in rows]


@pytest.fixture(scope="module")
def instruction_files(tmp_path_factory):
    rows = sentiment_rows(seed=1)
    directory = tmp_path_factory.mktemp("instructions")
    return {"train": write_rows(directory / "train.jsonl", instruction_rows(rows[:384])),
            "validation": write_rows(directory / "validation.jsonl", instruction_rows(rows[384:448])),
            "labelled": write_rows(directory / "labelled.jsonl", rows[384:448])}


def train_lm(model, files, output_dir, *extra):
    argv = ["--model_name_or_path", model, "--train_file", files["train"], "--validation_file", files["validation"],
            "--do_train", "--do_eval", "--output_dir", str(output_dir), *LM_FLAGS, *extra]
    return load_script("finetune_lm").main(argv)


def zero_shot_accuracy(model_dir, labelled_file):
    from prompts import FewShotClassifier, FewShotConfig, load_template
    from finetune_toolkit.core.causal_lm import load_generator

    model, tokenizer = load_generator(model_dir)
    rows = [json.loads(line) for line in Path(labelled_file).read_text().splitlines()]
    classifier = FewShotClassifier(model, tokenizer, load_template("sentiment"), None, FewShotConfig(progress=False))
    predictions = classifier.predict([{"text": row["text"]} for row in rows]).predictions
    return sum(p == row["label"] for p, row in zip(predictions, rows)) / len(rows)


# --- instruction data -------------------------------------------------------------------------------------

def test_prompt_completion_loss_covers_the_completion_and_eos_only(fewshot_gpt2):
    from transformers import AutoTokenizer

    from finetune.instructions import IGNORE_INDEX, encode_prompt_completion

    tokenizer = AutoTokenizer.from_pretrained(fewshot_gpt2)
    example = encode_prompt_completion(tokenizer, "Review: a fine film\nSentiment:", " positive", completion_only_loss=True)
    prompt = tokenizer("Review: a fine film\nSentiment:")["input_ids"]
    answer = tokenizer("Review: a fine film\nSentiment: positive")["input_ids"][len(prompt):]
    assert example["input_ids"] == prompt + answer + [tokenizer.eos_token_id]
    assert example["labels"] == [IGNORE_INDEX] * len(prompt) + answer + [tokenizer.eos_token_id]
    whole = encode_prompt_completion(tokenizer, "Review: a fine film\nSentiment:", " positive", completion_only_loss=False)
    assert whole["labels"] == whole["input_ids"]


CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def test_chat_loss_covers_exactly_the_assistant_turns(tiny_llama):
    from transformers import AutoTokenizer

    from finetune.instructions import IGNORE_INDEX, encode_messages

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    tokenizer.chat_template = CHAT_TEMPLATE
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the film was good"},
                {"role": "assistant", "content": "positive"}, {"role": "user", "content": "the plot was dull"},
                {"role": "assistant", "content": "negative"}]
    example = encode_messages(tokenizer, messages, completion_only_loss=True)
    learned = tokenizer.decode([t for t, label in zip(example["input_ids"], example["labels"]) if label != IGNORE_INDEX])
    # Each assistant turn is what its message adds after the generation prompt: content and end marker.
    assert learned.replace(" ", "") == "positive</s>negative</s>"
    assert example["input_ids"] == tokenizer(tokenizer.apply_chat_template(messages, tokenize=False), add_special_tokens=False)["input_ids"]


@pytest.mark.learning
def test_chat_data_trains_with_the_models_template(tiny_llama, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(tmp_path / "model")
    model_dir = tmp_path / "model"
    for name in ("config.json", "model.safetensors"):
        (model_dir / name).write_bytes((Path(tiny_llama) / name).read_bytes())
    rows = [{"messages": [{"role": "user", "content": row["text"]},
                          {"role": "assistant", "content": "positive" if row["label"] else "negative"}]} for row in sentiment_rows(seed=2)[:64]]
    files = {"train": write_rows(tmp_path / "chat.jsonl", rows[:48]), "validation": write_rows(tmp_path / "chat-val.jsonl", rows[48:])}
    metrics = train_lm(str(model_dir), files, tmp_path / "out", "--num_train_epochs", "4", "--learning_rate", "1e-2")
    assert metrics["data_format"] == "messages"
    assert metrics["eval_loss"] < metrics["eval_before_training_loss"] / 2


# --- packing ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("model_fixture", ["fewshot_gpt2", "tiny_llama"])
def test_packed_and_padded_batches_give_the_same_loss_and_gradients(model_fixture, attention, request):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finetune.instructions import encode_prompt_completion, example_collator
    from finetune.packed_rows import cheapest_rows

    path = request.getfixturevalue(model_fixture)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation=attention)
    model.train()  # training mode, where GPT-2 would otherwise build a KV cache and let examples see each other
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    pairs = [("Review: the cast was good\nSentiment:", " positive", True), ("Review: a dull plot", " indeed, a dull plot", False),
             ("Review: lovely\nSentiment:", " positive", True), ("Review: not one good scene in it\nSentiment:", " negative", True)]
    features = [encode_prompt_completion(tokenizer, p, c, only) for p, c, only in pairs]
    lengths = [len(f["input_ids"]) for f in features]
    padded = example_collator(tokenizer, packing=False)([dict(f) for f in features])
    packed = example_collator(tokenizer, packing=True)([dict(f) for f in features])
    assert packed["input_ids"].shape == (1, sum(lengths))  # no padding at all
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    assert [int(packed["position_ids"][0, s]) for s in starts] == [0, 0, 0, 0]
    # several rows, some holding two examples, shorter ones ending in a padding segment (finetune.packed_rows)
    break_even = next(b for b in (2.0**k for k in range(12)) if 1 < len(cheapest_rows(lengths, b)) < len(lengths))
    rows = example_collator(tokenizer, packing=True, break_even=break_even)([dict(f) for f in features])
    assert 1 < rows["input_ids"].shape[0] < len(lengths)
    losses, grads = [], []
    for batch in (padded, packed, rows):
        model.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert losses[0] == pytest.approx(losses[1], rel=1e-5) and losses[0] == pytest.approx(losses[2], rel=1e-5)
    assert torch.allclose(grads[0], grads[1], atol=1e-6) and torch.allclose(grads[0], grads[2], atol=1e-6)


@pytest.mark.learning
def test_packed_training_matches_padded_training(fewshot_gpt2, instruction_files, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Without dropout (its random masks depend on the batch's shape) and with SGD (Adam divides by the root
    # of tiny second moments, which turns float rounding into visible steps), both runs take the same steps.
    model = AutoModelForCausalLM.from_pretrained(fewshot_gpt2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model.save_pretrained(tmp_path / "model")
    AutoTokenizer.from_pretrained(fewshot_gpt2).save_pretrained(tmp_path / "model")
    flags = ["--max_steps", "6", "--learning_rate", "0.5", "--optim", "sgd"]
    padded = train_lm(str(tmp_path / "model"), instruction_files, tmp_path / "padded", *flags, "--packing", "false")
    packed = train_lm(str(tmp_path / "model"), instruction_files, tmp_path / "packed", *flags, "--packing")
    assert packed["packing"] and not padded["packing"]
    assert packed["eval_before_training_loss"] == pytest.approx(padded["eval_before_training_loss"], rel=1e-5)
    assert packed["eval_loss"] < packed["eval_before_training_loss"] - 0.5
    assert packed["eval_loss"] == pytest.approx(padded["eval_loss"], rel=1e-5)


# --- LoRA and prompt tuning -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lora_run(base_gpt2, instruction_files, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("lora") / "run"
    # lr 1e-2 made this run chaotic: its accuracy went from 0.42 to 1.0 with the CPU's kernel path. At 3e-3 it converges,
    # to the same loss to 5 digits under ATEN_CPU_CAPABILITY=default, avx2 and avx512 (`make test-numerics`).
    metrics = train_lm(base_gpt2, instruction_files, output_dir, "--use_peft", "--lora_r", "8", "--num_train_epochs", "30",
                       "--learning_rate", "3e-3", "--merge_adapter", "--packing")
    return output_dir, metrics


@pytest.mark.learning
def test_lora_learns_the_task_and_saves_only_the_adapter(lora_run, base_gpt2, instruction_files):
    output_dir, metrics = lora_run
    assert metrics["peft_type"] == "lora"
    assert metrics["trainable_parameters"] < 0.2 * metrics["total_parameters"]
    assert metrics["eval_loss"] < metrics["eval_before_training_loss"] / 10
    assert (output_dir / "adapter_model.safetensors").is_file() and not (output_dir / "model.safetensors").exists()
    from safetensors.torch import load_file

    adapted = {key.split(".h.0.")[1].rsplit(".lora_", 1)[0] for key in load_file(str(output_dir / "adapter_model.safetensors")) if ".h.0." in key}
    assert adapted == {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}  # every linear layer of attention and MLP
    assert zero_shot_accuracy(str(output_dir), instruction_files["labelled"]) >= 0.9
    assert zero_shot_accuracy(base_gpt2, instruction_files["labelled"]) < 0.8  # the base model had not learned it


def test_adapter_merged_and_pipeline_give_the_same_logits(lora_run):
    from transformers import pipeline

    from finetune_toolkit.core.causal_lm import load_generator

    output_dir, metrics = lora_run
    assert metrics["merged_model_dir"] == str(output_dir / "merged")
    adapter_model, tokenizer = load_generator(str(output_dir))
    merged_model, _ = load_generator(str(output_dir / "merged"))
    generator = pipeline("text-generation", model=str(output_dir))  # Transformers loads the adapter itself
    ids = tokenizer("Review: a great film\nSentiment:", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        reference = adapter_model(input_ids=ids).logits
        assert torch.allclose(merged_model(input_ids=ids).logits, reference, atol=1e-4)
        assert torch.allclose(generator.model(input_ids=ids).logits, reference, atol=1e-4)


@pytest.fixture(scope="module")
def prompt_tuning_run(base_gpt2, instruction_files, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("prompt-tuning") / "run"
    metrics = train_lm(base_gpt2, instruction_files, output_dir, "--use_peft", "--peft_type", "prompt_tuning",
                       "--num_virtual_tokens", "8", "--prompt_tuning_init_text", "Review sentiment", "--num_train_epochs", "4",
                       "--learning_rate", "3e-2")
    return output_dir, metrics


@pytest.mark.learning
def test_prompt_tuning_trains_only_the_virtual_tokens(prompt_tuning_run):
    output_dir, metrics = prompt_tuning_run
    assert metrics["peft_type"] == "prompt_tuning"
    assert metrics["trainable_parameters"] == 8 * 32  # 8 virtual tokens of the model's 32 dimensions
    assert metrics["eval_loss"] < metrics["eval_before_training_loss"]
    assert (output_dir / "adapter_model.safetensors").is_file()


def test_the_scorer_puts_the_soft_prompt_before_every_prompt(prompt_tuning_run):
    """Label scores from the scorer's shared-prefix path equal a plain PeftModel forward pass, by hand."""
    from prompts.scoring import LabelScorer
    from finetune_toolkit.core.causal_lm import load_generator

    output_dir, _ = prompt_tuning_run
    model, tokenizer = load_generator(str(output_dir))
    assert type(model).__name__.startswith("PeftModel")
    prompts = [tokenizer(f"Review: {text}\nSentiment:")["input_ids"] for text in ("a great film", "a dull plot was bad")]
    words = [[tokenizer(" negative")["input_ids"]], [tokenizer(" positive")["input_ids"]]]
    scores = LabelScorer(model, words, progress=False).score(prompts, groups=[0, 0])
    for row, prompt in enumerate(prompts):
        for label, (word,) in enumerate(words):
            ids = torch.tensor([prompt + word])
            with torch.no_grad():
                log_probs = torch.log_softmax(model(input_ids=ids).logits[0, -len(word) - 1 : -1], -1)
            expected = sum(log_probs[i, token] for i, token in enumerate(word))
            assert scores[row, label].item() == pytest.approx(expected.item(), abs=1e-4)


def test_generation_runs_through_the_soft_prompt(prompt_tuning_run):
    from finetune_toolkit.core.generation import GenerationArguments, generate
    from finetune_toolkit.core.causal_lm import load_generator

    output_dir, _ = prompt_tuning_run
    model, tokenizer = load_generator(str(output_dir))
    prompts = ["Review: a great film\nSentiment:", "Review: dull"]
    texts = generate(model, tokenizer, prompts, GenerationArguments(max_new_tokens=3))
    for prompt, (text,) in zip(prompts, texts):  # each answer is the argmax loop through the soft prompt
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        new = []
        with torch.no_grad():
            for _ in range(3):
                token = model(input_ids=ids).logits[0, -1].argmax().item()  # PeftModel puts the virtual tokens first
                if token == tokenizer.eos_token_id:
                    break
                new.append(token)
                ids = torch.cat([ids, torch.tensor([[token]])], 1)
        assert text == tokenizer.decode(new, skip_special_tokens=True)


@pytest.mark.learning
def test_lora_classifier_trains_the_head_fully_and_reloads_from_the_adapter(tiny_distilbert, sentiment_files, tmp_path):
    from helpers import fast_training_flags

    script = load_script("finetune_classifier")
    output_dir = tmp_path / "lora-classifier"
    metrics = script.main(["--model_name_or_path", tiny_distilbert, "--train_file", sentiment_files["train"],
                           "--validation_file", sentiment_files["validation"], "--do_train", "--do_eval", "--use_peft",
                           "--lora_r", "16", *fast_training_flags(output_dir), "--learning_rate", "3e-3", "--num_train_epochs", "10",
                           "--merge_adapter"])
    assert metrics["eval_accuracy"] >= 0.9
    assert metrics["trainable_parameters"] < metrics["total_parameters"] / 2
    from safetensors.torch import load_file

    saved = load_file(str(output_dir / "adapter_model.safetensors"))
    assert any("classifier" in key and "lora" not in key for key in saved), "the head is saved whole"
    again = script.main(["--model_name_or_path", str(output_dir), "--validation_file", sentiment_files["validation"],
                         "--do_eval", "--output_dir", str(tmp_path / "eval"), "--report_to", "none"])
    assert again["eval_accuracy"] == pytest.approx(metrics["eval_accuracy"])
    merged = script.main(["--model_name_or_path", str(output_dir / "merged"), "--validation_file", sentiment_files["validation"],
                          "--do_eval", "--output_dir", str(tmp_path / "eval-merged"), "--report_to", "none"])
    assert merged["eval_accuracy"] == pytest.approx(metrics["eval_accuracy"])


# --- bad input --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (["--use_peft", "--peft_type", "adalora"], "unknown --peft_type 'adalora'; choose from: lora, prompt_tuning"),
    (["--use_peft", "--lora_r", "0"], "--lora_r must be at least 1, got 0"),
    (["--use_peft", "--lora_target_modules", "q_proj"], "--lora_target_modules q_proj match no linear layer of the model; choose from: c_attn, c_fc, c_proj"),
    (["--use_peft", "--load_in_4bit"], "--load_in_4bit (QLoRA) needs a CUDA GPU and none is in use"),
    (["--load_in_4bit"], "--load_in_4bit needs --use_peft"),
    (["--use_peft", "--peft_type", "prompt_tuning", "--packing"], "--packing cannot be combined with prompt tuning"),
    (["--use_peft", "--peft_type", "prompt_tuning", "--merge_adapter"], "--merge_adapter works for LoRA only"),
])
def test_bad_peft_options_are_refused_before_anything_is_written(flags, message, fewshot_gpt2, instruction_files, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_CPU", "true")
    from accelerate import PartialState

    PartialState._reset_state()
    with pytest.raises(UserError) as caught:
        train_lm(fewshot_gpt2, instruction_files, tmp_path / "out", "--max_steps", "1", *flags)
    PartialState._reset_state()
    assert message in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_messages_without_a_chat_template_are_refused(fewshot_gpt2, tmp_path):
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}] * 4
    files = {"train": write_rows(tmp_path / "chat.jsonl", rows), "validation": write_rows(tmp_path / "val.jsonl", rows)}
    with pytest.raises(UserError, match="the tokenizer has no chat template"):
        train_lm(fewshot_gpt2, files, tmp_path / "out", "--max_steps", "1")
    assert not (tmp_path / "out").exists()


def test_an_adapter_whose_base_model_is_missing_is_refused(lora_run, tmp_path):
    import shutil

    from finetune_toolkit.core.causal_lm import load_generator

    output_dir, _ = lora_run
    copy = tmp_path / "adapter"
    shutil.copytree(output_dir, copy, ignore=shutil.ignore_patterns("merged"))
    config = json.loads((copy / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tmp_path / "gone")
    (copy / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match=r"needs its base model .*gone', which is missing; restore that directory"):
        load_generator(str(copy))
