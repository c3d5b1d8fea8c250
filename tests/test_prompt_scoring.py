"""Label scores equal hand computations; the shared-prefix cache changes nothing but speed."""

import pytest
import torch

from prompts import FewShotClassifier, FewShotConfig, LabelledExamples, load_template
from prompts.calibration import calibrate, content_free_probabilities
from prompts.scoring import LabelScorer, common_prefix_length
from prompts.verbalizer import continuation_ids
from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.errors import UserError

from helpers import FEWSHOT_CORPUS, sentencepiece_tokenizer


def test_byte_level_bpe_label_words_keep_their_leading_space():
    from finetune.scratch import train_byte_level_bpe

    tokenizer = train_byte_level_bpe(FEWSHOT_CORPUS, vocab_size=300)
    ids = continuation_ids(tokenizer, "\nSentiment:", " positive")
    assert tokenizer.convert_ids_to_tokens(ids) == ["Ġpositive"]
    assert tokenizer("positive", add_special_tokens=False)["input_ids"] != ids  # without the space: other tokens
    whole = tokenizer("Review: x\nSentiment: positive")["input_ids"]
    assert whole[-len(ids):] == ids  # the same tokens as in a full prompt


def test_sentencepiece_label_words_match_the_full_prompt_encoding():
    tokenizer = sentencepiece_tokenizer(FEWSHOT_CORPUS)
    ids = continuation_ids(tokenizer, "\nSentiment:", " negative")
    assert tokenizer.convert_ids_to_tokens(ids) == ["▁negative"]
    whole = tokenizer("Review: x\nSentiment: negative", add_special_tokens=False)["input_ids"]
    assert whole[-1:] == ids


def test_multi_token_label_words_are_tokenized_in_context():
    tokenizer = sentencepiece_tokenizer(FEWSHOT_CORPUS)
    ids = continuation_ids(tokenizer, "\nSentiment:", " positively splendid")
    assert len(ids) > 1
    whole = tokenizer("\nSentiment: positively splendid", add_special_tokens=False)["input_ids"]
    assert whole[-len(ids):] == ids


@pytest.fixture(scope="module")
def gpt2(fewshot_gpt2):
    return load_generator(fewshot_gpt2)


def _hand_log_prob(model, prompt_ids, continuation):
    ids = torch.tensor([prompt_ids + continuation])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(ids).logits[0].double(), -1)
    return sum(log_probs[len(prompt_ids) - 1 + j, t].item() for j, t in enumerate(continuation))


def test_single_token_scores_equal_log_softmax_of_the_logits(gpt2):
    model, tokenizer = gpt2
    prompt = tokenizer("Review: a dull plot\nSentiment:")["input_ids"]
    words = [[tokenizer(" negative")["input_ids"]], [tokenizer(" positive")["input_ids"]]]
    assert all(len(w[0]) == 1 for w in words)
    scores = LabelScorer(model, words, progress=False).score([prompt])[0]
    expected = [_hand_log_prob(model, prompt, w[0]) for w in words]
    assert scores.tolist() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_multi_token_scores_sum_or_average_token_log_probs(gpt2, reduction):
    model, tokenizer = gpt2
    prompt = tokenizer("Review: what a superb film\nSentiment:")["input_ids"]
    good, great = tokenizer(" really good")["input_ids"], tokenizer(" great")["input_ids"]
    bad = tokenizer(" quite awful indeed")["input_ids"]
    scores = LabelScorer(model, [[bad], [good, great]], reduction=reduction, progress=False).score([prompt])[0]

    def word(ids):
        total = _hand_log_prob(model, prompt, ids)
        return total / len(ids) if reduction == "mean" else total

    expected = [word(bad), torch.logsumexp(torch.tensor([word(good), word(great)]), 0).item()]
    assert scores.tolist() == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("model_fixture", ["fewshot_gpt2", "tiny_llama"])
def test_prefix_cache_scores_equal_encoding_every_prompt(request, model_fixture):
    model, tokenizer = load_generator(request.getfixturevalue(model_fixture))
    shared = "Review: the film was good\nSentiment: positive\n\nReview: a dull plot\nSentiment: negative\n\n"
    queries = ["a film", "what a brilliant movie this is", "i found the ending horrible and the cast dull", "bad"]
    prompts = tokenizer([shared + f"Review: {q}\nSentiment:" for q in queries])["input_ids"]
    prompts.append(tokenizer("Review: unrelated\nSentiment:")["input_ids"])  # another group, scored alone
    words = [[tokenizer(" negative", add_special_tokens=False)["input_ids"], tokenizer(" awful plot", add_special_tokens=False)["input_ids"]],
             [tokenizer(" positive", add_special_tokens=False)["input_ids"]]]
    groups = [0, 0, 0, 0, 1]
    scorer = LabelScorer(model, words, batch_size=3, reuse_prefix=True, progress=False)
    cached = scorer.score(prompts, groups)
    assert scorer.plain_reason is None, "the fast path must be the one compared"
    assert common_prefix_length(prompts[:4]) > 15  # most of each prompt comes from the cache
    expected = torch.tensor([[torch.logsumexp(torch.tensor([_hand_log_prob(model, prompt, ids) for ids in label]), 0).item()
                              for label in words] for prompt in prompts], dtype=torch.float64)
    torch.testing.assert_close(cached.double(), expected, atol=1e-4, rtol=0)


def test_the_paths_are_compared_once_per_model_and_plain_passes_compute_only_the_positions_read(fewshot_gpt2, monkeypatch):
    """A sweep builds a scorer per run: the comparison with the plain path must not be paid again on the same model
    (it cost a third of a short run), and the plain path must not run the output layer over the whole prompt."""
    from prompts import plain_scoring

    model, tokenizer = load_generator(fewshot_gpt2)
    prompts = tokenizer([f"Review: {q}\nSentiment:" for q in ("a film", "a dull plot", "what a brilliant movie")])["input_ids"]
    words = [[tokenizer(" negative")["input_ids"]], [tokenizer(" positive")["input_ids"]]]
    passes, forward = [], model.forward

    def counted(*args, **kwargs):
        passes.append(kwargs.get("logits_to_keep"))
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", counted)
    plain_calls, plain = [], plain_scoring.plain_label_scores
    monkeypatch.setattr("prompts.scoring.plain_label_scores", lambda *a, **k: plain_calls.append(1) or plain(*a, **k))
    first = LabelScorer(model, words, progress=False).score(prompts)
    assert len(plain_calls) == 1 and 1 in passes, "the first scorer compares both paths; plain passes keep one position"
    second = LabelScorer(model, words, progress=False).score(prompts)
    assert len(plain_calls) == 1, "a later scorer of the same kind on the same model does not compare again"
    torch.testing.assert_close(first, second)


def test_single_token_mode_refuses_labels_sharing_a_first_token(gpt2):
    model, tokenizer = gpt2
    template = load_template("sentiment")
    template.verbalizer.words["negative"] = ["positively awful"]
    with pytest.raises(UserError, match="start with the same token .* --label_scoring sum"):
        FewShotClassifier(model, tokenizer, template, None, FewShotConfig(label_scoring="single"))
    # Multi-token label words score as the sum of their tokens' log-probabilities, computed here by hand.
    classifier = FewShotClassifier(model, tokenizer, template, None, FewShotConfig(label_scoring="sum", progress=False))
    probabilities = classifier.predict(["a superb cast"]).probabilities[0]
    prompt = tokenizer(template.render_prompt({"text": "a superb cast"}, []))["input_ids"]
    words = [continuation_ids(tokenizer, template.label_context, template.target_delimiter + word)
             for word in ("positively awful", "positive")]
    assert len(words[0]) > 1
    expected = torch.softmax(torch.tensor([_hand_log_prob(model, prompt, word) for word in words]), 0)
    assert probabilities == pytest.approx(expected.tolist(), abs=1e-4)


def test_calibration_on_a_hand_worked_example():
    p_cf = content_free_probabilities(torch.log(torch.tensor([[0.9, 0.1], [0.7, 0.3]])))
    assert p_cf.tolist() == pytest.approx([0.8, 0.2])
    calibrated = calibrate(torch.tensor([[0.7, 0.3]], dtype=torch.float64), p_cf)
    # [0.7/0.8, 0.3/0.2] = [0.875, 1.5], normalised by 2.375
    assert calibrated[0].tolist() == pytest.approx([0.875 / 2.375, 1.5 / 2.375])
    assert calibrated.argmax().item() == 1  # the uncalibrated argmax (0) flips


def test_classifier_calibration_divides_by_the_content_free_probabilities(gpt2, fewshot_files):
    model, tokenizer = gpt2
    template = load_template("sentiment")
    pool = LabelledExamples([{"text": "the film was good"}, {"text": "a dull plot"}], [1, 0])
    config = FewShotConfig(shots=2, selection="first_n", calibrate=True, content_free_inputs=("N/A", ""), progress=False)
    result = FewShotClassifier(model, tokenizer, template, pool, config).predict(["a superb cast", "boring"])
    demos = [(pool.fields[0], 1), (pool.fields[1], 0)]
    words = [tokenizer(" negative")["input_ids"], tokenizer(" positive")["input_ids"]]

    def probs(text):
        ids = tokenizer(template.render_prompt({"text": text}, demos))["input_ids"]
        return torch.softmax(torch.tensor([_hand_log_prob(model, ids, w) for w in words]), 0)

    p_cf = (probs("N/A") + probs("")) / 2
    for query, calibrated in zip(["a superb cast", "boring"], result.calibrated_probabilities):
        expected = probs(query) / p_cf
        assert calibrated == pytest.approx((expected / expected.sum()).tolist(), abs=1e-5)
