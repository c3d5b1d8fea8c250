"""Causal-LM fine-tuning of a tiny GPT-2: perplexity, blocks, padding, saving, bad input."""

import json

import pytest

from finetune_toolkit.core.errors import UserError

from helpers import LM_CORPUS, load_script


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    (directory / "train.txt").write_text("\n".join(LM_CORPUS) + "\n")
    (directory / "validation.txt").write_text("\n".join(LM_CORPUS[:8]) + "\n")
    return directory


@pytest.fixture(scope="module")
def trained_gpt2(tiny_gpt2, corpus_files, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("lm") / "gpt2"
    argv = ["--model_name_or_path", tiny_gpt2, "--train_file", str(corpus_files / "train.txt"),
            "--validation_file", str(corpus_files / "validation.txt"), "--block_size", "32", "--do_train", "--do_eval",
            "--output_dir", str(output_dir), "--num_train_epochs", "8", "--learning_rate", "5e-3",
            "--per_device_train_batch_size", "8", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true"]
    return output_dir, load_script("finetune_lm").main(argv)


@pytest.mark.learning
def test_perplexity_falls_on_a_repetitive_corpus(trained_gpt2):
    _, metrics = trained_gpt2
    assert metrics["eval_before_training_perplexity"] > 100
    assert metrics["eval_perplexity"] < metrics["eval_before_training_perplexity"] / 10


def test_results_and_model_are_saved(trained_gpt2):
    output_dir, metrics = trained_gpt2
    saved = json.loads((output_dir / "all_results.json").read_text())
    assert saved["eval_perplexity"] == pytest.approx(metrics["eval_perplexity"])
    assert saved["block_size"] == 32
    from transformers import pipeline

    generator = pipeline("text-generation", model=str(output_dir))
    text = generator("the cat sat", max_new_tokens=5, do_sample=False)[0]["generated_text"]
    assert text.startswith("the cat sat") and len(text) > len("the cat sat")


def test_blocks_join_documents_with_eos_and_mask_padding(tiny_gpt2):
    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer

    from finetune.lm_data import LMDataArguments, tokenize_into_blocks

    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    tokenizer.pad_token = tokenizer.eos_token
    docs = ["the cat sat", "the dog"]
    ids = [tokenizer(d)["input_ids"] + [tokenizer.eos_token_id] for d in docs]
    stream = ids[0] + ids[1]
    block_size = len(stream) - 2  # the second block holds 2 real tokens, then padding
    blocks = tokenize_into_blocks(DatasetDict(train=Dataset.from_dict({"text": docs})), tokenizer, block_size, LMDataArguments())
    rows = blocks["train"]
    assert rows["input_ids"][0] == stream[:block_size] and rows["labels"][0] == stream[:block_size]
    padding = block_size - 2
    assert rows["labels"][1] == stream[block_size:] + [-100] * padding
    assert rows["attention_mask"][1] == [1, 1] + [0] * padding


def test_document_per_file_keeps_a_file_whole(tmp_path):
    from finetune.lm_data import LMDataArguments, load_text_splits

    path = tmp_path / "book.txt"
    path.write_text("line one\n\nline two\n")
    by_line = load_text_splits(LMDataArguments(train_file=str(path)), need=("train",))
    by_file = load_text_splits(LMDataArguments(train_file=str(path), document_per="file"), need=("train",))
    assert by_line["train"]["text"] == ["line one", "line two"]
    assert len(by_file["train"]) == 1 and "line one" in by_file["train"]["text"][0]


def test_json_corpus_with_text_column(tmp_path):
    from finetune.lm_data import LMDataArguments, load_text_splits

    path = tmp_path / "docs.jsonl"
    path.write_text('{"body": "first doc"}\n{"body": ""}\n{"body": "second doc"}\n')
    splits = load_text_splits(LMDataArguments(train_file=str(path), text_column="body"), need=("train",))
    assert splits["train"]["text"] == ["first doc", "second doc"]


def run_lm(tiny_gpt2, tmp_path, train_text, extra=()):
    path = tmp_path / "train.txt"
    path.write_text(train_text)
    argv = ["--model_name_or_path", tiny_gpt2, "--train_file", str(path), "--do_train", "--output_dir", str(tmp_path / "out"),
            "--report_to", "none", *extra]
    with pytest.raises(UserError) as caught:
        load_script("finetune_lm").main(argv)
    assert not (tmp_path / "out").exists()
    return str(caught.value)


def test_corpus_shorter_than_a_block_says_what_would_work(tiny_gpt2, tmp_path):
    message = run_lm(tiny_gpt2, tmp_path, "the cat sat\n", ["--block_size", "64"])
    assert message.startswith("the train text has 4 tokens, fewer than one block of 64; pass --block_size 2 or less")


def test_empty_corpus(tiny_gpt2, tmp_path):
    assert run_lm(tiny_gpt2, tmp_path, "\n\n  \n").endswith("is empty; give a file with data")


def test_corpus_of_empty_documents(tmp_path):
    from finetune.lm_data import LMDataArguments, load_text_splits

    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": ""}\n{"text": "   "}\n')
    with pytest.raises(UserError, match="holds no text; give a file with some"):
        load_text_splits(LMDataArguments(train_file=str(path)), need=("train",))


def test_block_longer_than_the_context(tiny_gpt2, tmp_path):
    message = run_lm(tiny_gpt2, tmp_path, "\n".join(LM_CORPUS), ["--block_size", "4096"])
    assert message == "--block_size 4096 is longer than the model's context of 128 tokens; pass --block_size 128 or less"


def test_encoder_only_model_is_refused(tiny_distilbert, tmp_path):
    message = run_lm(tiny_distilbert, tmp_path, "\n".join(LM_CORPUS))
    assert message == f"model {tiny_distilbert!r} (distilbert) cannot be used for text generation (a decoder such as gpt2); choose a model of that kind"
