"""Export a `PromptTemplate` as an lm-evaluation-harness task, to run the same prompts in both tools.

The task reads local JSON-lines files (no Hub), renders the demonstration format with Jinja as lm-eval
does, uses the template's separator as `fewshot_delimiter` and its target delimiter as lm-eval's
`target_delimiter`. With the `first_n` sampler, lm-eval's demonstrations are the first k rows of the train
file, as with `--selection first_n`. Each kind of template becomes lm-eval's output type for it:

- classification: `multiple_choice` over the first verbalizer word of each label, metric `acc`;
- multiple_choice: `multiple_choice` over the row's own options (`doc_to_choice` is the choices column), metrics
  `acc` and `acc_norm`;
- generation: `generate_until` the template's stop strings, greedy, at most `max_new_tokens` tokens, metric
  `exact_match` with the template's `ignore_case`/`ignore_punctuation`, after lm-eval's `remove_whitespace` filter
  (the toolkit's exact match ignores surrounding whitespace too).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.outputs import atomic_write_text

from .template import PromptTemplate


def _jinja(parts: list, columns: dict[str, str]) -> str:
    out = []
    for part in parts:
        if isinstance(part, tuple):
            out.append("{{" + columns[part[0]] + "}}")
        elif any(c in part for c in "{}%#"):
            out.append("{% raw %}" + part + "{% endraw %}")  # literal text Jinja must not interpret
        else:
            out.append(part)
    return "".join(out)


def lm_eval_task_config(template: PromptTemplate, train_file: str, validation_file: str, task_name: str,
                        columns: dict[str, str] | None = None, label_column: str = "label", sampler: str = "first_n") -> dict:
    """The lm-eval task (a dict for its YAML) that renders `template` on the given files.

    `columns` maps template fields to data columns (default: the same names); labels must be ids.
    """
    columns = columns or {name: name for name in template.fields}
    if template.kind == "classification" and any(len(words) > 1 for words in template.verbalizer.words.values()):
        raise UserError("lm-eval scores one choice per label; use a template with one word per label")
    if template.text_after_label:
        raise UserError("lm-eval puts nothing after the answer; use a template whose demonstration ends with {label}")
    config = {
        "task": task_name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"train": str(Path(train_file).resolve()),
                                          "validation": str(Path(validation_file).resolve())}},
        "training_split": "train",
        "validation_split": "validation",
        "fewshot_split": "train",
        "fewshot_config": {"sampler": sampler},
        "doc_to_text": _jinja(template.query_parts, columns),
        "doc_to_target": label_column,
        "target_delimiter": template.target_delimiter,
        "fewshot_delimiter": template.separator_text,
        **_output_type(template),
    }
    if template.instruction_text:
        config["description"] = template.instruction_text + template.separator_text
    return config


def _output_type(template: PromptTemplate) -> dict:
    """The keys of the task that depend on the template's kind (see the module docstring)."""
    if template.kind == "generation":
        return {"output_type": "generate_until",
                "generation_kwargs": {"until": list(template.stop), "max_gen_toks": template.max_new_tokens, "do_sample": False},
                "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                                 "ignore_case": template.ignore_case, "ignore_punctuation": template.ignore_punctuation}],
                "filter_list": [{"name": "remove_whitespace",
                                 "filter": [{"function": "remove_whitespace"}, {"function": "take_first"}]}]}
    metrics = ["acc", "acc_norm"] if template.kind == "multiple_choice" else ["acc"]
    choices = ("{{" + template.choices_column + "}}" if template.kind == "multiple_choice"
               else [words[0] for words in template.verbalizer.words.values()])
    return {"output_type": "multiple_choice", "doc_to_choice": choices,
            "metric_list": [{"metric": name, "aggregation": "mean", "higher_is_better": True} for name in metrics]}


def write_lm_eval_task(directory: str | Path, template: PromptTemplate, train_file: str, validation_file: str,
                       task_name: str = "finetune_toolkit_fewshot", **kwargs) -> Path:
    """Write the task YAML into `directory` (pass it to lm-eval as `include_path`); returns the file."""
    config = lm_eval_task_config(template, train_file, validation_file, task_name, **kwargs)
    path = Path(directory) / f"{task_name}.yaml"
    atomic_write_text(path, yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path
