"""The lm-eval task written for a template renders exactly our prompts (skipped without lm-eval)."""

import json

import pytest

from prompts import load_template
from prompts.lm_eval_task import write_lm_eval_task

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install -e .[bench])")


def _lm_eval_task(directory, template, train, validation):
    from lm_eval.tasks import TaskManager, get_task_dict

    write_lm_eval_task(directory, template, train, validation, task_name="toolkit_test_task")
    manager = TaskManager(include_path=str(directory), include_defaults=False)
    return get_task_dict(["toolkit_test_task"], manager)["toolkit_test_task"]


@pytest.mark.parametrize("shots", [0, 3])
def test_lm_eval_task_renders_the_same_prompt_as_our_template(tmp_path, fewshot_files, shots):
    template = load_template("sentiment")
    task = _lm_eval_task(tmp_path / "tasks", template, fewshot_files["train"], fewshot_files["validation"])
    pool = [json.loads(line) for line in open(fewshot_files["train"])]
    doc = next(iter(task.validation_docs()))
    ours = template.render_prompt({"text": doc["text"]}, [({"text": row["text"]}, row["label"]) for row in pool[:shots]])
    assert task.fewshot_context(doc, num_fewshot=shots) == ours
    assert [task.config.target_delimiter + choice for choice in task.doc_to_choice(doc)] == [" negative", " positive"]


def test_instructions_and_braces_survive_the_export(tmp_path, fewshot_files):
    template = load_template("sentiment").with_instruction("Say {{positive}} or 100% {{negative}}.")
    task = _lm_eval_task(tmp_path / "tasks", template, fewshot_files["train"], fewshot_files["validation"])
    pool = [json.loads(line) for line in open(fewshot_files["train"])]
    doc = next(iter(task.validation_docs()))
    ours = template.render_prompt({"text": doc["text"]}, [({"text": pool[0]["text"]}, pool[0]["label"])])
    assert ours.startswith("Say {positive} or 100% {negative}.\n\n")
    assert task.fewshot_context(doc, num_fewshot=1) == ours


@pytest.mark.parametrize("name", ["antonyms", "arithmetic"])
@pytest.mark.parametrize("shots", [0, 2])
def test_multiple_choice_and_generation_exports_render_our_prompts_and_answers(tmp_path, name, shots):
    from prompts.example_tasks import example_dir

    template = load_template(name)
    train, validation = (str(example_dir(name) / f"{split}.jsonl") for split in ("train", "validation"))
    task = _lm_eval_task(tmp_path / "tasks", template, train, validation)
    pool = [json.loads(line) for line in open(train)]
    doc = next(iter(task.validation_docs()))
    ours = template.render_prompt(doc, [(row, row["label"]) for row in pool[:shots]])
    assert task.fewshot_context(doc, num_fewshot=shots) == ours
    if name == "antonyms":
        assert task.doc_to_choice(doc) == doc["choices"] and task.doc_to_target(doc) == doc["label"]
        assert task.config.output_type == "multiple_choice"
    else:
        assert task.config.output_type == "generate_until" and task.doc_to_target(doc) == doc["label"]
        assert task.config.generation_kwargs["until"] == ["\n"] and task.config.generation_kwargs["max_gen_toks"] == 8
