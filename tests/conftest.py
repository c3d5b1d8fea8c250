"""Fixtures: tiny models built from configs with locally trained tokenizers, and small data files.

Nothing here touches the network: the Hub is switched off before any library is imported.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from helpers import FEWSHOT_CORPUS, LM_CORPUS, build_tiny_encoder, sentencepiece_tokenizer, sentiment_rows, write_rows  # noqa: E402


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory) -> str:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-distilbert"), "distilbert")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), "bert")


@pytest.fixture(scope="session")
def sentiment_files(tmp_path_factory) -> dict[str, str]:
    """train (448 rows) / validation (64 rows) JSON-lines files of the synthetic task."""
    rows = sentiment_rows()
    directory = tmp_path_factory.mktemp("sentiment-data")
    return {
        "train": write_rows(directory / "train.jsonl", rows[:448]),
        "validation": write_rows(directory / "validation.jsonl", rows[448:]),
    }


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> str:
    """A 2-layer GPT-2 (32 dims, 128 positions) with a byte-level BPE trained on LM_CORPUS."""
    from finetune.scratch import build_gpt2

    return build_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), LM_CORPUS, vocab_size=400, n_embd=32, n_layer=2, n_head=2)


@pytest.fixture(scope="session")
def fewshot_gpt2(tmp_path_factory) -> str:
    """A 2-layer GPT-2 (256 positions) whose byte-level BPE has seen the sentiment template."""
    from finetune.scratch import build_gpt2

    return build_gpt2(tmp_path_factory.mktemp("fewshot-gpt2"), FEWSHOT_CORPUS, vocab_size=300, n_positions=256,
                      n_embd=32, n_layer=2, n_head=2)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> str:
    """A 2-layer Llama (grouped-query attention, RoPE) with a SentencePiece-style tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = sentencepiece_tokenizer(FEWSHOT_CORPUS)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def fewshot_files(tmp_path_factory) -> dict[str, str]:
    """A demonstration pool (96 rows) and evaluation data (24 rows) of the synthetic sentiment task."""
    rows = sentiment_rows(seed=1)
    directory = tmp_path_factory.mktemp("fewshot-data")
    return {"train": write_rows(directory / "pool.jsonl", rows[:96]), "validation": write_rows(directory / "eval.jsonl", rows[96:120])}


@pytest.fixture(scope="session")
def base_gpt2(fewshot_gpt2, tmp_path_factory):
    """`fewshot_gpt2` with token embeddings of a pretrained model's scale. A fresh initialisation's are so small
    (std 0.02) that, with the tied output layer frozen, no adapter can move the next-token distribution far."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = tmp_path_factory.mktemp("base-gpt2")
    model = AutoModelForCausalLM.from_pretrained(fewshot_gpt2)
    with torch.no_grad():
        model.transformer.wte.weight.mul_(15)
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(fewshot_gpt2).save_pretrained(directory)
    return str(directory)
