"""The output layer only where the loss is (`finetune.kept_logits`): loss and gradients equal the model's own loss
on the full logits, for three families, full fine-tuning, LoRA and prompt tuning, padded and packed batches."""

import json
import re

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, Qwen2Config

from finetune.kept_logits import KeptLogits
from finetune.packed_rows import PackedRowsCollator

from helpers import load_script

VOCAB = 97
CONFIGS = {
    # no dropout: it would differ between the two passes compared
    "gpt2": lambda: GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0,
                               embd_pdrop=0.0, attn_pdrop=0.0),
    "llama": lambda: LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64),
    "qwen2": lambda: Qwen2Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64),
}


def model_for(family: str, adaptation: str):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(CONFIGS[family](), attn_implementation="sdpa")
    if adaptation == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0))
        for name, parameter in model.named_parameters():
            if "lora_B" in name:  # peft starts B at zero; non-zero so that the adapter changes the outputs
                torch.nn.init.normal_(parameter, std=0.1)
    elif adaptation == "prompt_tuning":
        from peft import PromptTuningConfig, get_peft_model

        model = get_peft_model(model, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=3))
    model.train()
    return model


def batch(layout: str) -> dict:
    """Three examples of 9, 6 and 11 tokens whose last 2, 1 and 3 tokens are labelled (the answer only): padded,
    packed into one row, or packed into two rows by `PackedRowsCollator` (the second with a padding segment)."""
    generator = torch.Generator().manual_seed(1)
    lengths, answers = (9, 6, 11), (2, 1, 3)
    examples = [torch.randint(0, VOCAB, (n,), generator=generator) for n in lengths]
    labels = [torch.where(torch.arange(n) >= n - a, ids, -100) for ids, n, a in zip(examples, lengths, answers)]
    if layout == "rows":
        rows = PackedRowsCollator(break_even=40.0)([{"input_ids": ids.tolist(), "labels": row.tolist()} for ids, row in zip(examples, labels)])
        assert rows["input_ids"].shape == (2, 15), "a row of 11 tokens and a padding segment of 4, and a row of 9 and 6"
        return {key: rows[key] for key in ("input_ids", "labels", "position_ids")}
    if layout == "packed":  # one row, positions restarting at each example, each example's first label masked
        labels = [torch.cat([torch.tensor([-100]), row[1:]]) for row in labels]
        return {"input_ids": torch.cat(examples)[None], "labels": torch.cat(labels)[None],
                "position_ids": torch.cat([torch.arange(n) for n in lengths])[None]}
    width = max(lengths)
    pad = lambda rows, value: torch.stack([torch.cat([r, torch.full((width - len(r),), value)]) for r in rows])
    return {"input_ids": pad(examples, 0), "labels": pad(labels, -100),
            "attention_mask": pad([torch.ones(n, dtype=torch.long) for n in lengths], 0)}


def gradients(model) -> dict:
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    model.zero_grad()
    return grads


@pytest.mark.parametrize("family", list(CONFIGS))
@pytest.mark.parametrize("adaptation, layout", [("full", "padded"), ("full", "packed"), ("full", "rows"), ("lora", "padded"),
                                                ("lora", "packed"), ("lora", "rows"), ("prompt_tuning", "padded")])
def test_the_loss_and_gradients_equal_the_full_output_layers(family, adaptation, layout):
    if adaptation == "prompt_tuning" and family == "gpt2":
        pytest.skip("covered by llama and qwen2")
    model, inputs = model_for(family, adaptation), batch(layout)
    reference = model(**inputs).loss
    reference.backward()
    expected = gradients(model)

    kept, seen = KeptLogits(model), []
    model.get_output_embeddings().register_forward_hook(lambda module, args, output: seen.append(args[0].shape[1]))
    labels = inputs["labels"]
    with kept.keeping(labels):
        outputs = model(**{key: value for key, value in inputs.items() if key != "labels"})
        loss = kept(outputs, labels)
    loss.backward()
    labelled = int((labels[:, 1:] != -100).sum())
    assert seen == [labelled] and labelled < labels[:, 1:].numel() / 2, "the output layer ran on the labelled positions only"
    torch.testing.assert_close(loss, reference, rtol=1e-5, atol=1e-6)
    actual = gradients(model)
    assert actual.keys() == expected.keys() and expected
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-4, atol=1e-6, msg=name)
    # outside `keeping`, the hook does nothing and the loss is the model's own on every position (evaluation)
    with torch.no_grad():
        outputs = model(**{key: value for key, value in inputs.items() if key != "labels"})
        torch.testing.assert_close(kept(outputs, labels), model(**inputs).loss, rtol=1e-5, atol=1e-6)


def test_training_with_kept_logits_logs_the_same_losses(fewshot_gpt2, tmp_path):
    rows = [{"prompt": f"Review: film {i} was {'good' if i % 2 else 'bad'}.\nSentiment:", "completion": f" {'positive' if i % 2 else 'negative'}"}
            for i in range(32)]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(row) + "\n" for row in rows))
    losses = {}
    for setting in ("true", "false"):
        output = tmp_path / setting
        load_script("finetune_lm").main(["--model_name_or_path", fewshot_gpt2, "--train_file", str(train), "--do_train",
                                         "--max_steps", "6", "--per_device_train_batch_size", "8", "--logging_steps", "1",
                                         "--learning_rate", "1e-3", "--packing", "--kept_logits", setting, "--save_strategy", "no",
                                         "--report_to", "none", "--output_dir", str(output), "--seed", "0"])
        state = json.loads((output / "trainer_state.json").read_text()) if (output / "trainer_state.json").exists() else None
        history = state["log_history"] if state else json.loads((output / "all_results.json").read_text())
        losses[setting] = [entry["loss"] for entry in history if "loss" in entry] if state else [history["train_loss"]]
    assert losses["true"] == pytest.approx(losses["false"], rel=1e-4) and len(losses["true"]) >= 1


@pytest.mark.parametrize("rows, flags, message", [
    (None, ["--block_size", "4", "--packing", "false"], "no train example keeps an answer token within --block_size 4; raise --block_size"),
    ([{"prompt": f"Review {i}:", "completion": ""} for i in range(4)], [], "'train' row 1: empty text in column 'completion'"),
    (None, ["--use_peft", "--lora_target_modules", "nothing_like_this"], "--lora_target_modules nothing_like_this match no linear layer"),
])
def test_bad_training_input_is_one_line_and_writes_nothing(rows, flags, message, fewshot_gpt2, tmp_path):
    from finetune_toolkit.core.errors import UserError

    rows = rows or [{"prompt": f"Review: film {i} was fine and long.\nSentiment:", "completion": " positive"} for i in range(4)]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(UserError, match=re.escape(message)) as error:
        load_script("finetune_lm").main(["--model_name_or_path", fewshot_gpt2, "--train_file", str(train), "--do_train",
                                         "--max_steps", "1", "--output_dir", str(tmp_path / "out"), *flags])
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()

