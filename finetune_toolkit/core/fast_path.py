"""Which models the shared-prefix fast path serves exactly.

The few-shot scorers (`prompts.scoring`, `prompts.option_scoring`) encode the demonstrations' shared prefix once,
copy its KV cache to every batch, right-pad the batch with explicit position ids and, for words of several tokens,
append them to the prompt under a custom attention mask. That equals one plain forward pass per example (the suite
checks it for GPT-2, Llama, Mistral, Qwen2, Gemma 2, Phi-3, GPT-NeoX, OPT and Falcon) for models whose every layer
attends to the whole sequence through a key/value cache. Two kinds of model are not served:

- attention that looks back only a window of tokens (Mistral's and Gemma's sliding window, Llama 4's chunks), when
  a sequence is longer than the window: a custom mask replaces the window;
- models whose cache is not keys and values (Mamba, RWKV and other recurrent or hybrid layers).

`fast_path_problem` says why a model is not served, before any scoring; the scorers then take the plain path
(one unpadded forward pass per example) and say so in one line. They also compare both paths on a few real
prompts first (once per model and kind of scorer: `choose_path`), so a model this list does not know cannot give
silently different numbers either.
"""

from __future__ import annotations

import logging
import weakref

logger = logging.getLogger(__name__)

# Model types whose layers keep a recurrent state instead of (or beside) a key/value cache.
RECURRENT_MODEL_TYPES = {"mamba", "mamba2", "falcon_mamba", "rwkv", "recurrent_gemma", "jamba", "zamba", "zamba2", "bamba",
                         "lfm2", "xlstm", "falcon_h1", "granitemoehybrid", "nemotron_h", "qwen3_next", "minimax"}
# Largest difference in log-probability between the fast and the plain path that counts as equal (float32 rounding).
TOLERANCE = 1e-4
# What comparing both paths found, per kind of scorer and model: None (the fast path agreed) or why not. A model is
# compared once per process and kind, so the later calls of a sweep or of lm-eval's tasks do not pay for it again.
_VERDICTS: dict[str, "weakref.WeakKeyDictionary"] = {}
_WARNED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> reasons already said


def choose_path(model, kind: str, longest: int, compare) -> str | None:
    """None when the fast path serves this call exactly, otherwise why the plain path must take it.

    Decided per call: a model the rules rule out for sequences of `longest` tokens (`fast_path_problem`: a sliding
    window shorter than this call's longest request) takes the plain path for this call only, so a short task before
    a long one cannot carry the fast path over. Otherwise `compare()` (both paths on a few of the call's requests;
    None or the difference found) runs the first time this `kind` of scorer meets `model`, and its verdict is kept.
    The plain path is announced once per model and reason."""
    problem = fast_path_problem(model, longest)
    if problem is None:
        verdicts = _VERDICTS.setdefault(kind, weakref.WeakKeyDictionary())
        if model not in verdicts:
            verdicts[model] = compare()
        problem = verdicts[model]
    said = _WARNED.setdefault(model, set())
    if problem is not None and problem not in said:
        said.add(problem)
        logger.warning("scoring on the plain path (one unpadded forward pass per request): %s", problem)
    return problem


def compared_before(model, kind: str) -> bool:
    """Whether a `kind` scorer has already compared both paths on `model` in this process."""
    return model in _VERDICTS.get(kind, ())


def model_config(model):
    """The config of `model`, or of the model under a `peft` wrapper."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config
    return getattr(config, "get_text_config", lambda: config)()


def attention_window(config) -> int | None:
    """How many tokens back the most limited attention layer of the model sees, or None when every layer sees all."""
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None and not {"sliding_attention", "chunked_attention"} & set(layer_types):
        return None
    if getattr(config, "use_sliding_window", True) is False:
        return None
    windows = [value for value in (getattr(config, "sliding_window", None), getattr(config, "attention_chunk_size", None))
               if isinstance(value, int) and value > 0]
    return min(windows) if windows else None


def fast_path_problem(model, longest: int) -> str | None:
    """Why the fast path cannot score `model` exactly on sequences of up to `longest` tokens, or None when it can."""
    config = model_config(model)
    model_type = getattr(config, "model_type", "")
    if model_type in RECURRENT_MODEL_TYPES:
        return f"{model_type} layers keep a recurrent state, not a key/value cache the prompts could share"
    window = attention_window(config)
    if window is not None and window < longest:
        return (f"{model_type} attends to at most {window} earlier tokens (a sliding window) and the longest prompt with "
                f"its answer has {longest}")
    return None
