"""New models from scratch: a byte-level BPE tokenizer trained on your text and a GPT-2 built from a config.

For smoke tests, demos and teaching; nothing is downloaded.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

EOS = "<|endoftext|>"


def train_byte_level_bpe(texts: Iterable[str], vocab_size: int = 1000, model_max_length: int = 128):
    """A GPT-2 style tokenizer (byte-level BPE, `<|endoftext|>` as BOS/EOS) trained on `texts`."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS],
                            show_progress=sys.stderr.isatty())  # its bar leaves blank lines in a log
    with tempfile.TemporaryDirectory() as scratch:
        bpe.save_model(scratch)
        vocab = json.loads(Path(scratch, "vocab.json").read_text(encoding="utf-8"))
        lines = Path(scratch, "merges.txt").read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split()) for line in lines if line and not line.startswith("#")]
    return GPT2Tokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)


def build_gpt2(output_dir: str | Path, texts: Iterable[str], vocab_size: int = 1000, n_positions: int = 128,
               n_embd: int = 128, n_layer: int = 4, n_head: int = 4, seed: int = 0) -> str:
    """Save a randomly initialised GPT-2 and a BPE tokenizer trained on `texts` to `output_dir`."""
    tokenizer = train_byte_level_bpe(texts, vocab_size, model_max_length=n_positions)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return str(output_dir)
