"""Packed batches in rows sized for attention (`finetune.packed_rows`); that a model's loss and gradients are the
same in every layout is tests/test_peft.py and tests/test_kept_logits.py."""

import random

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config

from finetune.packed_rows import PackedRowsCollator, attention_break_even, balanced_rows, cheapest_rows


def test_rows_are_filled_longest_first_into_the_shortest_row():
    # 8 -> row 0; 5 -> row 1; 3 -> row 1 (5 < 8); 2 -> row 0 (8 = 8, the first): totals 10 and 8
    assert balanced_rows([5, 3, 8, 2], 2) == [[2, 3], [0, 1]]
    assert balanced_rows([5, 3], 4) == [[0], [1]]  # never an empty row


def test_the_cheapest_split_by_hand():
    lengths = [9, 6, 11]
    # cost(k) = k x longest row x (1 + longest row / break_even); with break_even 40:
    # one row of 26: 26 x 1.65 = 42.9; rows [11], [9, 6]: 2 x 15 x 1.375 = 41.25; three rows: 3 x 11 x 1.275 = 42.075
    assert cheapest_rows(lengths, 40.0) == [[2], [0, 1]]
    assert cheapest_rows(lengths, 1000.0) == [[0, 1, 2]]  # attention is cheap: one row, no padding
    assert cheapest_rows(lengths, 1.0) == [[2], [0], [1]]  # attention is all: one example a row
    assert cheapest_rows(lengths, None) == [[0, 1, 2]]


def test_the_search_comes_close_to_trying_every_count():
    # past 16 rows not every count is tried (finetune.packed_rows.row_counts). The cost over counts is jagged where
    # examples are few tokens long (a row takes one more or one fewer), so the narrowing search can miss the best
    # count by a few percent of estimated cost (at most 7.2% over 1,500 random batches); it never misses by 10%
    def cost(lengths, rows, break_even):
        longest = max(sum(lengths[i] for i in row) for row in rows)
        return len(rows) * longest * (1 + longest / break_even)

    generator = random.Random(0)
    for _ in range(40):
        size, break_even, longest = generator.choice([20, 40, 90]), generator.choice([50.0, 200.0, 1600.0]), generator.choice([8, 60, 400])
        lengths = [generator.randint(2, longest) for _ in range(size)]
        best = min(cost(lengths, balanced_rows(lengths, count), break_even) for count in range(1, size + 1))
        assert best <= cost(lengths, cheapest_rows(lengths, break_even), break_even) <= 1.1 * best


def test_a_row_ends_in_a_padding_segment_of_its_own():
    features = [{"input_ids": [11, 12, 13], "labels": [-100, 12, 13]}, {"input_ids": [21, 22], "labels": [-100, 22]},
                {"input_ids": [31, 32, 33, 34, 35], "labels": [-100, -100, 33, 34, 35]}]
    batch = PackedRowsCollator(pad_token_id=0, break_even=5.0)(features)  # rows [2] and [0, 1]: 5 tokens each
    assert batch["input_ids"].tolist() == [[31, 32, 33, 34, 35], [11, 12, 13, 21, 22]]
    assert batch["labels"].tolist() == [[-100, -100, 33, 34, 35], [-100, 12, 13, -100, 22]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4], [0, 1, 2, 0, 1]]
    assert batch["use_cache"] is False
    # two examples: one row of 5 costs 5 x 3.5 = 17.5, two rows of 3 cost 2 x 3 x 2.5 = 15
    padded = PackedRowsCollator(pad_token_id=0, break_even=2.0)(features[:2])
    assert padded["input_ids"].tolist() == [[11, 12, 13], [21, 22, 0]]
    assert padded["labels"].tolist() == [[-100, 12, 13], [-100, 22, -100]]
    assert padded["position_ids"].tolist() == [[0, 1, 2], [0, 1, 0]]  # the padding restarts: a sequence of its own
    # with attention cheap, the padding costs more: one row of 5 costs 5.25, two rows of 3 cost 6.18
    one_row = PackedRowsCollator(pad_token_id=0, break_even=100.0)(features[:2])
    assert one_row["input_ids"].tolist() == [[11, 12, 13, 21, 22]]
    unlabelled = PackedRowsCollator()([{"input_ids": [5, 6, 7]}, {"input_ids": [8, 9]}])  # plain text: labels = ids
    assert unlabelled["labels"].tolist() == [[-100, 6, 7, -100, 9]]


def gpt2(hidden: int = 64, layers: int = 2, attention: str = "sdpa"):
    config = GPT2Config(n_layer=layers, n_embd=hidden, n_head=2, vocab_size=100, n_positions=64, bos_token_id=0, eos_token_id=0)
    return AutoModelForCausalLM.from_config(config, attn_implementation=attention)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_the_break_even_length_by_hand(attention):
    # a GPT-2 layer holds 12 d^2 + 13 d weights (qkv, output, two MLP matrices, their biases, two layer norms),
    # and the final layer norm's 2 d are shared between the 2 layers: d = 64 gives 50,048, over 4 d = 256
    assert attention_break_even(gpt2(attention=attention)) == pytest.approx((12 * 64**2 + 13 * 64 + 64) / 256)


def test_kernels_that_skip_masked_blocks_keep_one_row():
    model = gpt2()
    model.config._attn_implementation = "flash_attention_2"
    assert attention_break_even(model) is None
    model.config._attn_implementation = "flex_attention"
    assert attention_break_even(model) is None


def test_every_example_sees_only_itself_in_any_layout():
    torch.manual_seed(0)
    model = gpt2().eval()
    examples = [torch.randint(1, 100, (n,)).tolist() for n in (7, 4, 9, 3)]  # the padding token is 0
    alone = [model(torch.tensor([ids])).logits[0] for ids in examples]
    shapes = set()
    for break_even in (None, 3.0, 12.0, 40.0):
        batch = PackedRowsCollator(break_even=break_even)([{"input_ids": ids} for ids in examples])
        shapes.add(tuple(batch["input_ids"].shape))
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        matched = []
        for row in range(len(logits)):
            starts = [i for i, p in enumerate(batch["position_ids"][row].tolist()) if p == 0] + [logits.shape[1]]
            for start, end in zip(starts, starts[1:]):
                ids = batch["input_ids"][row, start:end].tolist()
                if ids[0] == 0:  # a padding segment
                    continue
                index = examples.index(ids)
                torch.testing.assert_close(logits[row, start:end], alone[index], rtol=1e-4, atol=1e-5)
                matched.append(index)
        assert sorted(matched) == [0, 1, 2, 3]
    assert len(shapes) >= 3, shapes  # one row, several rows, one example a row


@pytest.mark.parametrize("split", [True, False])
def test_split_packed_batches_decides_between_rows_and_one_row(split, tmp_path):
    from types import SimpleNamespace

    from finetune.language_modeling import lm_collator
    from finetune.lm_data import LMDataArguments
    from finetune.training import FinetuneTrainingArguments

    data_args = LMDataArguments(train_file="train.jsonl", packing=True, split_packed_batches=split)
    collate = lm_collator(gpt2(), SimpleNamespace(pad_token_id=0), "prompt_completion", data_args,
                          FinetuneTrainingArguments(output_dir=str(tmp_path)))
    # 8 examples of 100 tokens: one row of 800 or, with a break-even length of 195.5, rows without padding
    batch = collate([{"input_ids": list(range(1, 101))} for _ in range(8)])
    assert (batch["input_ids"].shape[0] > 1) == split and batch["input_ids"].numel() == 800
