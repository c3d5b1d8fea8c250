"""One device decision (Accelerate's), automatic batch sizes that back off when memory runs out, and the
checks that need a CUDA GPU (skipped without one)."""

import functools
import json
import subprocess
import sys

import pytest
import torch

from finetune_toolkit.core.generation import AUTO_CPU_BATCH, GenerationArguments, generate
from prompts.scoring import LabelScorer
from finetune_toolkit.core.causal_lm import load_generator

from helpers import ROOT, fast_training_flags, load_script

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _device_in_subprocess(model: str, env: dict) -> str:
    code = ("from finetune_toolkit.core.causal_lm import load_generator; from accelerate import PartialState; import sys\n"
            "model, _ = load_generator(sys.argv[1]); print(model.device, PartialState().device)")
    result = subprocess.run([sys.executable, "-c", code, model], capture_output=True, text=True, cwd=ROOT,
                            env={**__import__("os").environ, **env}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


def test_accelerate_use_cpu_keeps_the_model_on_the_cpu_even_with_a_gpu(fewshot_gpt2):
    # What `accelerate launch --cpu` sets for each process.
    assert _device_in_subprocess(fewshot_gpt2, {"ACCELERATE_USE_CPU": "true"}) == ["cpu", "cpu"]


def test_the_model_goes_where_accelerate_decides(fewshot_gpt2):
    model_device, state_device = _device_in_subprocess(fewshot_gpt2, {})
    assert model_device == state_device == ("cuda:0" if torch.cuda.is_available() else "cpu")


def _failing_above(model, monkeypatch, rows: int, calls: list):
    """Make `model` raise the out-of-memory error a GPU raises whenever a batch has more than `rows` rows."""
    forward = model.forward

    @functools.wraps(forward)
    def limited(*args, **kwargs):
        batch = kwargs["input_ids"].shape[0]
        calls.append(batch)
        if batch > rows:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", limited)


def test_automatic_scoring_batches_halve_until_they_fit_and_give_the_same_scores(fewshot_gpt2, monkeypatch):
    model, tokenizer = load_generator(fewshot_gpt2)
    prompts = tokenizer([f"Review: film number {i} was {'good' if i % 2 else 'bad'}\nSentiment:" for i in range(40)])["input_ids"]
    words = [[tokenizer(" negative")["input_ids"]], [tokenizer(" positive")["input_ids"]]]
    expected = LabelScorer(model, words, batch_size=1, progress=False).score(prompts)
    calls = []
    _failing_above(model, monkeypatch, 5, calls)
    scorer = LabelScorer(model, words, progress=False)  # automatic: 16 on a CPU, then 8, then 4
    torch.testing.assert_close(scorer.score(prompts), expected, atol=1e-5, rtol=1e-5)
    assert calls.index(16) < calls.index(8) < calls.index(4) and max(calls[calls.index(4):]) == 4 and scorer.rows_used == 4
    with pytest.raises(torch.OutOfMemoryError):  # a batch size the user chose is never changed behind their back
        LabelScorer(model, words, batch_size=16, progress=False).score(prompts)


def test_automatic_generation_batches_halve_until_they_fit_and_give_the_same_text(fewshot_gpt2, monkeypatch):
    model, tokenizer = load_generator(fewshot_gpt2)
    prompts = [f"Review: film number {i} was" for i in range(40)]
    arguments = GenerationArguments(max_new_tokens=5)
    expected = generate(model, tokenizer, prompts, GenerationArguments(max_new_tokens=5, batch_size=1))
    calls = []
    _failing_above(model, monkeypatch, 6, calls)
    assert generate(model, tokenizer, prompts, arguments) == expected
    assert calls[0] == AUTO_CPU_BATCH == 32
    assert calls.index(16) < calls.index(8) < calls.index(4) and max(calls[calls.index(4):]) == 4


def test_words_scored_in_a_second_pass_equal_the_one_pass_scores(fewshot_gpt2):
    """FlashAttention takes no custom mask, so there multi-token words continue the KV cache instead."""
    model, tokenizer = load_generator(fewshot_gpt2)
    prompts = tokenizer(["Review: a dull plot\nSentiment:", "Review: good\nSentiment:", "Review: a superb cast\nSentiment:"])["input_ids"]
    words = [[tokenizer(" quite awful indeed")["input_ids"]], [tokenizer(" really good")["input_ids"], tokenizer(" great")["input_ids"]]]
    one_pass = LabelScorer(model, words, batch_size=2, progress=False)
    two_pass = LabelScorer(model, words, batch_size=2, progress=False)
    two_pass.one_pass = False
    assert one_pass.one_pass
    torch.testing.assert_close(one_pass.score(prompts), two_pass.score(prompts), atol=1e-5, rtol=1e-5)


@cuda
@pytest.mark.parametrize("precision", ["--bf16", "--fp16"])
def test_mixed_precision_training_learns_on_a_gpu(precision, tiny_distilbert, sentiment_files, tmp_path):
    if precision == "--bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    metrics = load_script("finetune_classifier").main([
        "--model_name_or_path", tiny_distilbert, "--train_file", sentiment_files["train"],
        "--validation_file", sentiment_files["validation"], "--do_train", "--do_eval", precision,
        *fast_training_flags(tmp_path / "out"),
    ])
    assert metrics["eval_accuracy"] >= 0.9


@cuda
def test_bfloat16_scoring_agrees_with_float32_on_clear_predictions(fewshot_gpt2, fewshot_files, tmp_path):
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    args = ["--model_name_or_path", fewshot_gpt2, "--train_file", fewshot_files["train"], "--validation_file",
            fewshot_files["validation"], "--shots", "0", "2", "--seeds", "0"]
    load_script("fewshot").main([*args, "--output_dir", str(tmp_path / "fp32")])
    load_script("fewshot").main([*args, "--dtype", "bfloat16", "--output_dir", str(tmp_path / "bf16")])
    for run in (tmp_path / "fp32" / "predictions").iterdir():
        full = [json.loads(line) for line in run.read_text().splitlines()]
        half = [json.loads(line) for line in (tmp_path / "bf16" / "predictions" / run.name).read_text().splitlines()]
        for a, b in zip(full, half):
            assert b["probabilities"] == pytest.approx(a["probabilities"], abs=0.03)
            if abs(a["probabilities"][0] - a["probabilities"][1]) > 0.05:  # not a near-tie
                assert a["prediction"] == b["prediction"]


@cuda
def test_flash_attention_scores_equal_sdpa_when_installed(fewshot_gpt2):
    pytest.importorskip("flash_attn")
    from finetune_toolkit.core.models import ModelArguments

    prompts, scores = None, []
    for kernel in ("sdpa", "flash_attention_2"):
        model, tokenizer = load_generator(ModelArguments(fewshot_gpt2, attn_implementation=kernel), "bfloat16")
        prompts = prompts or tokenizer(["Review: a dull plot\nSentiment:", "Review: good\nSentiment:"])["input_ids"]
        words = [[tokenizer(" negative")["input_ids"]], [tokenizer(" awful plot")["input_ids"]]]
        scores.append(LabelScorer(model, words, batch_size=2, progress=False).score(prompts))
    torch.testing.assert_close(scores[0], scores[1], atol=0.05, rtol=0.05)
