"""`ToolkitLM`, lm-eval's model interface on the toolkit's scorer: the numbers of lm-eval's own `hf` backend
(skipped without lm-eval)."""

import math

import pytest
import torch

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install -e .[lm-eval])")

from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel  # noqa: E402

from finetune_toolkit.evaluation.lm_eval_model import ToolkitLM  # noqa: E402

from lm_eval_tasks import write_tasks  # noqa: E402

DEMONSTRATIONS = "the cat sat on the mat.\nthe dog sat on the log.\nthe bird sang in the tree.\n"


@pytest.fixture(scope="module")
def spread_gpt2(tiny_gpt2):
    """A 2-layer GPT-2 on the tiny byte-level BPE, its weights drawn wide (std 0.3) so that log-probabilities spread
    out and a wrong position or mask shows."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2, initializer_range=0.3,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    return GPT2LMHeadModel(config).eval(), tokenizer


def _requests(kind, arguments):
    return [Instance(request_type=kind, doc={}, arguments=args, idx=i) for i, args in enumerate(arguments)]


def _plain(model, context, continuation):
    """One unpadded forward pass: the continuation's summed log-probability and whether greedy decoding gives it."""
    ids = torch.tensor([context + continuation[:-1]])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(ids).logits[0, len(context) - 1:].float(), -1)
    targets = torch.tensor(continuation)
    return log_probs[torch.arange(len(targets)), targets].sum().item(), bool((log_probs.argmax(-1) == targets).all())


def _boundary_pair(lm):
    """A (context, continuation) split inside a word, where encoding the two apart gives other tokens than whole."""
    text = "the children played in the park until it was dark."
    for cut in range(5, len(text) - 3):
        context, continuation = text[:cut], text[cut:]
        if context.endswith(" "):
            continue
        if lm.tok_encode(context) + lm.tok_encode(continuation) != lm.tok_encode(context + continuation):
            return context, continuation
    raise AssertionError("no split of the text merges tokens across the boundary")


@pytest.mark.parametrize("batch_size", ["auto", 2])
def test_loglikelihood_groups_prefixes_and_matches_one_plain_pass_per_request(spread_gpt2, batch_size, monkeypatch):
    model, tokenizer = spread_gpt2
    lm = ToolkitLM(model, tokenizer=tokenizer, batch_size=batch_size)
    boundary = _boundary_pair(lm)
    arguments = [
        # contexts that share no prefix
        ("a bird sang", " in the tree"), ("children played", " in the park"),
        # demonstrations shared by every context, each context with several options
        *[(DEMONSTRATIONS + query, option) for query in ("the cat sat on the", "the dog sat on the")
          for option in (" mat.", " log.", " tree.")],
        boundary,                                # the continuation's first token merges with the context's last
        ("the cat sat on the ", "mat"),          # trailing whitespace moves to the continuation
        ("", "the cat sat on the mat."),         # empty context: the prefix token conditions it
    ]
    prefixes = []
    encode_prefix = lm.scorer.core.encode_prefix
    monkeypatch.setattr(lm.scorer.core, "encode_prefix", lambda ids: prefixes.append(len(ids)) or encode_prefix(ids))

    ours = lm.loglikelihood(_requests("loglikelihood", arguments), disable_tqdm=True)
    theirs = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4).loglikelihood(
        _requests("loglikelihood", arguments), disable_tqdm=True)

    assert lm.scorer.plain_reason is None, "the fast path must be the one tested"
    assert max(prefixes) >= len(lm.tok_encode(DEMONSTRATIONS)) - 1, "the demonstrations' prefix was computed once"
    for args, (log_prob, greedy), (their_log_prob, their_greedy) in zip(arguments, ours, theirs):
        context, continuation = args
        if context:
            context_ids, continuation_ids = lm._encode_pair(context, continuation)
        else:
            context_ids, continuation_ids = [lm.prefix_token_id], lm.tok_encode(continuation, add_special_tokens=False)
        plain = _plain(model, context_ids, continuation_ids)
        assert log_prob == pytest.approx(plain[0], abs=1e-4), args
        assert greedy == plain[1]
        assert log_prob == pytest.approx(their_log_prob, abs=1e-4)
        assert greedy == their_greedy
    assert len({round(log_prob, 3) for log_prob, _ in ours}) > len(arguments) // 2, "scores must differ to test anything"


def test_loglikelihood_runs_the_model_without_autograd(spread_gpt2):
    model, tokenizer = spread_gpt2
    lm = ToolkitLM(model, tokenizer=tokenizer)
    grad_modes = []
    hook = model.register_forward_pre_hook(lambda module, args: grad_modes.append(torch.is_grad_enabled()))
    try:
        lm.loglikelihood(_requests("loglikelihood", [(DEMONSTRATIONS + "the cat sat on the", option)
                                                     for option in (" mat.", " log.")]), disable_tqdm=True)
    finally:
        hook.remove()
    assert grad_modes and not any(grad_modes), "recording the autograd graph slows every scoring pass"


def test_loglikelihood_rolling_uses_lm_evals_windows(spread_gpt2):
    model, tokenizer = spread_gpt2
    texts = [" ".join(["the cat sat on the mat and looked at the dog."] * repeats) for repeats in (1, 4, 7)]
    ours = ToolkitLM(model, tokenizer=tokenizer, max_length=24).loglikelihood_rolling(_requests("loglikelihood_rolling", [(t,) for t in texts]), disable_tqdm=True)
    # lm-eval unbatched: batched (4), it gave -608.888 for the last text against -609.695 unbatched here; the windows
    # of a repeated text hit its one-token-continuation logits cache.
    theirs = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=1, max_length=24).loglikelihood_rolling(
        _requests("loglikelihood_rolling", [(t,) for t in texts]), disable_tqdm=True)
    assert len(tokenizer(texts[-1])["input_ids"]) > 3 * 24, "the longest text needs four windows"
    for log_prob, their_log_prob in zip(ours, theirs):
        assert log_prob == pytest.approx(their_log_prob, rel=1e-5)
    assert len(set(ours)) == len(ours)


def test_generate_until_gives_lm_evals_text(spread_gpt2):
    model, tokenizer = spread_gpt2
    settings = [{"until": ["\n"], "max_gen_toks": 6, "do_sample": False}, {"until": [".", "dog"], "max_gen_toks": 9}]
    arguments = [(DEMONSTRATIONS + query, setting) for query in ("the cat", "the dog sat", "a bird") for setting in settings]
    ours = ToolkitLM(model, tokenizer=tokenizer).generate_until(_requests("generate_until", arguments), disable_tqdm=True)
    theirs = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4).generate_until(
        _requests("generate_until", arguments), disable_tqdm=True)
    assert ours == theirs
    assert any(ours), "the model must generate something for the comparison to mean anything"


@pytest.fixture(scope="module")
def smollm2():
    from finetune_toolkit.core.causal_lm import load_generator

    return load_generator("packaged:SmolLM2-135M-Instruct")


def _evaluate(lm, tasks, manager, shots, limit=8):
    out = lm_eval.simple_evaluate(model=lm, tasks=tasks, num_fewshot=shots, limit=limit, log_samples=True,
                                  task_manager=manager, bootstrap_iters=0)
    return out["results"], {task: sorted(out["samples"][task], key=lambda s: s["doc_id"]) for task in tasks}


@pytest.mark.slow
@pytest.mark.parametrize("shots", [0, 5])
def test_same_numbers_as_lm_evals_hf_backend_on_smollm2(smollm2, tmp_path, shots):
    model, tokenizer = smollm2
    manager = TaskManager(include_path=str(write_tasks(tmp_path / "tasks")), include_defaults=False)
    choice_tasks = ["toolkit_mc", "toolkit_gen"]
    ours, our_samples = _evaluate(ToolkitLM(model, tokenizer=tokenizer), choice_tasks, manager, shots)
    theirs, their_samples = _evaluate(HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8), choice_tasks, manager, shots)

    assert ours["toolkit_mc"]["acc,none"] == theirs["toolkit_mc"]["acc,none"]
    assert ours["toolkit_mc"]["acc_norm,none"] == theirs["toolkit_mc"]["acc_norm,none"]
    differences = [abs(a[0][0] - b[0][0]) for s, t in zip(our_samples["toolkit_mc"], their_samples["toolkit_mc"])
                   for a, b in zip(s["resps"], t["resps"])]
    assert len(differences) == 8 * 4 and max(differences) < 1e-4
    assert [s["resps"] for s in our_samples["toolkit_gen"]] == [s["resps"] for s in their_samples["toolkit_gen"]]
    assert ours["toolkit_gen"]["exact_match,strip"] == theirs["toolkit_gen"]["exact_match,strip"]
    if shots:
        assert ours["toolkit_gen"]["exact_match,strip"] > 0, "5-shot additions: SmolLM2 gets some right"

    # Perplexity over windows of 64 tokens (the documents have 40 to 190 words), so the windowing is what is compared.
    rolling = ["toolkit_ppl"]
    ours, _ = _evaluate(ToolkitLM(model, tokenizer=tokenizer, max_length=64), rolling, manager, shots, limit=None)
    theirs, _ = _evaluate(HFLM(pretrained=model, tokenizer=tokenizer, batch_size=1, max_length=64), rolling, manager, shots, limit=None)
    for metric in ("word_perplexity,none", "byte_perplexity,none", "bits_per_byte,none"):
        assert math.isfinite(ours["toolkit_ppl"][metric])
        assert ours["toolkit_ppl"][metric] == pytest.approx(theirs["toolkit_ppl"][metric], rel=1e-4)


def test_bfloat16_scores_equal_hflms_within_bfloat16_rounding(spread_gpt2):
    """In bfloat16 the model is the same for both backends; the toolkit takes the log-softmax in float32 where HFLM
    takes it in the model's dtype, so the two differ only by bfloat16's rounding of the log-probabilities (about
    2**-8 relative): checked against a float32 log-softmax of the same bfloat16 logits, and against HFLM loosely."""
    import copy

    model, tokenizer = spread_gpt2
    model = copy.deepcopy(model).to(torch.bfloat16)
    arguments = [(DEMONSTRATIONS + query, option) for query in ("the cat sat on the", "a bird sang")
                 for option in (" mat.", " log.", " tree.")]
    lm = ToolkitLM(model, tokenizer=tokenizer, batch_size=4)
    ours = lm.loglikelihood(_requests("loglikelihood", arguments), disable_tqdm=True)
    theirs = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4).loglikelihood(
        _requests("loglikelihood", arguments), disable_tqdm=True)
    for (context, continuation), (log_prob, _), (their_log_prob, _) in zip(arguments, ours, theirs):
        context_ids, continuation_ids = lm._encode_pair(context, continuation)
        assert log_prob == pytest.approx(_plain(model, context_ids, continuation_ids)[0], rel=2 ** -6, abs=5e-2)
        assert log_prob == pytest.approx(their_log_prob, rel=2 ** -6, abs=5e-2)


def test_contexts_longer_than_the_model_are_cut_from_the_left_as_hflm_cuts_them(spread_gpt2):
    model, tokenizer = spread_gpt2
    long_context = " ".join(["the cat sat on the mat and the dog sat on the log"] * 30)
    arguments = [(long_context, " tree."), (long_context + " then", " the bird sang."), ("a short one", " here.")]
    lm = ToolkitLM(model, tokenizer=tokenizer, batch_size=2)
    assert len(lm.tok_encode(long_context)) > 2 * lm.max_length
    ours = lm.loglikelihood(_requests("loglikelihood", arguments), disable_tqdm=True)
    theirs = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=2).loglikelihood(
        _requests("loglikelihood", arguments), disable_tqdm=True)
    assert [round(a[0], 4) for a in ours] == [round(b[0], 4) for b in theirs]
    assert [a[1] for a in ours] == [b[1] for b in theirs]
    gen = [(long_context, {"until": ["."], "max_gen_toks": 6, "do_sample": False})]
    assert lm.generate_until(_requests("generate_until", gen), disable_tqdm=True) == HFLM(
        pretrained=model, tokenizer=tokenizer, batch_size=2).generate_until(_requests("generate_until", gen), disable_tqdm=True)


def test_settings_the_toolkit_does_not_take_go_to_hflms_generate_until_without_its_batch_probe(spread_gpt2, monkeypatch):
    model, tokenizer = spread_gpt2
    settings = {"until": ["."], "max_gen_toks": 6, "do_sample": False, "no_repeat_ngram_size": 2}
    arguments = [(DEMONSTRATIONS + query, dict(settings)) for query in ("the cat sat on the", "a bird", "the dog sat")]
    theirs = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4).generate_until(
        _requests("generate_until", arguments), disable_tqdm=True)
    monkeypatch.setattr(HFLM, "_detect_batch_size", lambda *a, **k: pytest.fail("HFLM's batch probe ran"))
    lm = ToolkitLM(model, tokenizer=tokenizer, batch_size="auto")
    assert lm.generate_until(_requests("generate_until", arguments), disable_tqdm=True) == theirs
    assert lm.batch_size == "auto", "the automatic batch size is restored after the fallback"


def test_sampling_is_reproducible_with_a_seed_and_varies_without_one(spread_gpt2):
    from transformers import set_seed

    model, tokenizer = spread_gpt2
    lm = ToolkitLM(model, tokenizer=tokenizer, batch_size=4)
    arguments = [(query, {"until": ["\n"], "max_gen_toks": 8, "do_sample": True, "temperature": 1.5})
                 for query in ("the cat", "a bird", "the dog", "children")]
    runs = []
    for seed in (1, 1, 2):
        set_seed(seed)
        runs.append(lm.generate_until(_requests("generate_until", arguments), disable_tqdm=True))
    assert runs[0] == runs[1], "the same seed gives the same samples"
    assert runs[0] != runs[2], "another seed gives other samples"
