"""Errors that keep their cause: a bad file is named in one line (exit 2, nothing written), the Hub's own errors
are explained, any other OSError keeps its message, and a bug in the toolkit keeps its traceback."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from finetune_toolkit.core.command_line import parse_args
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.file_checks import folder_problem, safetensors_problem

from helpers import ROOT, load_script


def run_script(*args, cwd=ROOT):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def one_line_error(result) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ")
    return lines[-1]


@pytest.fixture
def model_copy(tiny_gpt2, tmp_path):
    def copy(name="model"):
        return shutil.copytree(tiny_gpt2, tmp_path / name)
    return copy


def cut(path, keep=0.5):
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def test_a_cut_weights_file_is_named_with_what_is_wrong(model_copy, tmp_path):
    model = model_copy()
    cut(model / "model.safetensors")
    output = tmp_path / "out.jsonl"
    line = one_line_error(run_script("scripts/generate.py", "--model_name_or_path", str(model), "--prompt", "the cat",
                                     "--output_file", str(output)))
    assert f"cannot read the weights file {model / 'model.safetensors'}" in line and "truncated" in line
    assert not output.exists()


def test_a_cut_tokenizer_file_is_named_with_what_is_wrong(model_copy):
    from finetune_toolkit.core.causal_lm import load_generator

    model = model_copy()
    cut(model / "tokenizer.json")
    with pytest.raises(UserError, match=f"^cannot read {model / 'tokenizer.json'}: it is not valid JSON"):
        load_generator(str(model))


def test_a_half_written_adapter_folder_is_named(tiny_gpt2, tmp_path):
    from finetune_toolkit.core.causal_lm import load_generator

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": tiny_gpt2, "peft_type": "LORA",
                                                             "task_type": "CAUSAL_LM", "r": 4, "target_modules": ["c_attn"]}))
    with pytest.raises(UserError, match=f"adapter folder {adapter} has adapter_config.json but no adapter_model.safetensors"):
        load_generator(str(adapter))


def test_a_checkpoint_with_a_cut_optimizer_file_is_refused_before_training(tiny_gpt2, tmp_path):
    import torch

    checkpoint = shutil.copytree(tiny_gpt2, tmp_path / "checkpoint-1")
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 1}))
    torch.save({"python": 0}, checkpoint / "rng_state.pth")
    torch.save({"state": {"0": torch.zeros(100)}}, checkpoint / "optimizer.pt")
    cut(checkpoint / "optimizer.pt")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\n" * 20)
    with pytest.raises(UserError, match=f"cannot resume from {str(checkpoint)!r}: its file optimizer.pt cannot be read"):
        load_script("finetune_lm").main(["--model_name_or_path", tiny_gpt2, "--train_file", str(corpus), "--do_train",
                                         "--block_size", "16", "--resume_from_checkpoint", str(checkpoint),
                                         "--output_dir", str(tmp_path / "run"), "--report_to", "none"])
    assert not (tmp_path / "run").exists()


def test_safetensors_check_tells_a_whole_file_from_cut_ones(model_copy):
    weights = model_copy() / "model.safetensors"
    assert safetensors_problem(weights) is None
    whole = weights.read_bytes()
    for keep, expected in ((len(whole) - 1, "the file is truncated"), (20, "header claims"), (3, "too few")):
        weights.write_bytes(whole[:keep])
        assert expected in safetensors_problem(weights)


def test_a_folder_with_whole_files_has_no_problem(tiny_gpt2, tiny_llama):
    assert folder_problem(tiny_gpt2) is None and folder_problem(tiny_llama) is None


def test_an_oserror_that_is_not_the_hubs_keeps_its_own_message(model_copy):
    from finetune_toolkit.core.causal_lm import load_generator

    model = model_copy()
    (model / "model.safetensors").unlink()
    with pytest.raises(UserError) as refused:
        load_generator(str(model))
    message = str(refused.value)
    assert message.startswith(f"cannot load model {str(model)!r}: ") and "model.safetensors" in message
    assert "Hub is unreachable" not in message


def test_the_hubs_typed_error_becomes_the_offline_explanation():
    from finetune_toolkit.core.causal_lm import load_generator

    with pytest.raises(UserError, match="the Hugging Face Hub is unreachable .* and it is not in the local cache"):
        load_generator("someone-unknown/no-such-model")


@dataclass
class Options:
    count: int = field(default=1, metadata={"help": "How many."})
    bug: str = field(default="", metadata={"help": "Which bug to inject in __post_init__ (for the test)."})

    def __post_init__(self):
        if self.count < 1:
            raise ValueError("--count must be at least 1")
        if self.bug == "type":
            len(self.count)  # TypeError: a bug, not the user's input
        if self.bug == "attribute":
            self.no_such_attribute.strip()
        if self.bug == "library_value":
            int("not a number")  # a ValueError from a call, not an explicit check


def test_parsing_turns_the_dataclasses_explicit_checks_and_the_parsers_refusals_into_one_line():
    with pytest.raises(UserError, match="^--count must be at least 1$"):
        parse_args((Options,), ["--count", "0"])
    with pytest.raises(UserError, match="argument --count: invalid int value: 'many'"):
        parse_args((Options,), ["--count", "many"])
    with pytest.raises(UserError, match="unknown option '--cuont'"):
        parse_args((Options,), ["--cuont", "2"])


@pytest.mark.parametrize("bug, error", [("type", TypeError), ("attribute", AttributeError), ("library_value", ValueError)])
def test_a_bug_raised_while_parsing_keeps_its_traceback(bug, error):
    with pytest.raises(error) as raised:
        parse_args((Options,), ["--bug", bug])
    assert not isinstance(raised.value, UserError)


def test_a_bug_in_a_command_ends_in_a_traceback_not_a_one_line_error(tiny_gpt2):
    """Inject a TypeError into the toolkit's generation code and run the real command: the traceback must show."""
    code = ("import finetune_toolkit.core.generation as generation\n"
            "def broken(prompts, args):\n    return len(5)\n"
            "generation.chat_prompts = broken\n"
            "from finetune_toolkit.cli import main\n"
            f"main(['generate', '--model_name_or_path', {tiny_gpt2!r}, '--prompt', 'hi', '--max_new_tokens', '2'])\n")
    result = run_script("-c", code)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "TypeError: object of type 'int' has no len()" in result.stderr
    assert "in broken" in result.stderr


def test_config_files_are_checked_like_flags(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("count: many\n")
    with pytest.raises(UserError, match="argument --count: invalid int value: 'many'"):
        parse_args((Options,), [str(config)])
    config.write_text("count: [1,\n")
    with pytest.raises(UserError, match="config file .* cannot be read"):
        parse_args((Options,), [str(config)])
    config.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="must hold a table of option: value pairs"):
        parse_args((Options,), [str(config)])
    config.write_text("count: 3\n")
    assert parse_args((Options,), [str(config)])[0].count == 3
