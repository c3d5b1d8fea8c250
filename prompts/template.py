"""Prompt templates: a demonstration format with named fields, filled in by plain substitution.

    template = PromptTemplate(
        demonstration="Review: {text}\nSentiment: {label}",
        verbalizer=Verbalizer({"negative": ["negative"], "positive": ["positive"]}),
    )
    template.render_prompt({"text": "A gem."}, demonstrations=[({"text": "Dull."}, 0)])
    # 'Review: Dull.\nSentiment: negative\n\nReview: A gem.\nSentiment:'

The query format is the demonstration cut just before `{label}`; the whitespace before `{label}` (the
"target delimiter", usually one space) belongs to the label's continuation, so that byte-level BPE
tokenizers score " positive" as one token, as lm-evaluation-harness does. `{{` and `}}` are literal
braces; nothing in a template or a field value is ever evaluated (`prompts.template_format`).

Three kinds of task share the format (`type:` in a template file): `classification` (a fixed label set, the default),
`multiple_choice` (each row brings its options) and `generation` (a reference text, generated and compared).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.jsonio import loads_bounded

from .tasks import BUILTIN_TEMPLATES
from .template_format import check_stop, parse_format, substitute
from .verbalizer import Verbalizer

LABEL = "label"
KINDS = ("classification", "multiple_choice", "generation")
TEMPLATE_KEYS = ("name", "type", "instruction", "demonstration", "separator", "labels", "choices_column", "stop",
                 "max_new_tokens", "ignore_case", "ignore_punctuation")
DEFAULT_STOP = ("\n",)
DEFAULT_MAX_NEW_TOKENS = 32


@dataclass
class PromptTemplate:
    """How a few-shot prompt is laid out, and what kind of answer follows it.

    demonstration: one solved example, e.g. "Review: {text}\\nSentiment: {label}"; `{label}` appears once, last.
    kind: what `{label}` stands for. `classification`: a label of the verbalizer (its first word is shown);
        `multiple_choice`: the right one of the row's own options (`choices_column`), each option scored as the
        continuation of the prompt; `generation`: a reference text, generated greedily until a `stop` string.
    verbalizer: label names (in label-id order) and their words (classification only).
    instruction: text put before the demonstrations (optional).
    separator: between the instruction, the demonstrations and the query.
    stop, max_new_tokens, ignore_case, ignore_punctuation: how answers are generated and compared (generation only).
    """
    demonstration: str
    verbalizer: Verbalizer | None = None
    instruction: str = ""
    separator: str = "\n\n"
    name: str = "custom"
    kind: str = "classification"
    choices_column: str | None = None
    stop: list[str] | None = None
    max_new_tokens: int | None = None
    ignore_case: bool = False
    ignore_punctuation: bool = False
    fields: list[str] = field(init=False)

    def __post_init__(self):
        where = f"template {self.name!r}"
        self._check_kind(where)
        parts = parse_format(self.demonstration, f"{where} demonstration")
        names = [part[0] for part in parts if isinstance(part, tuple)]
        if names.count(LABEL) != 1:
            raise UserError(f"{where}: the demonstration must contain {{label}} exactly once, e.g. 'Review: {{text}}\\nSentiment: {{label}}'")
        cut = parts.index((LABEL,))
        head, self._tail = parts[:cut], parts[cut + 1:]
        if head and isinstance(head[-1], str):
            stripped = head[-1].rstrip()
            self.target_delimiter = head[-1][len(stripped):]
            head = head[:-1] + ([stripped] if stripped else [])
        else:
            self.target_delimiter = ""
        self._query = head
        self.fields = [name for name in dict.fromkeys(names) if name != LABEL]
        if not self.fields:
            raise UserError(f"{where}: the demonstration has no input field such as {{text}}")
        if self.choices_column in self.fields:
            raise UserError(f"{where}: the options ({{{self.choices_column}}}) are scored, not shown; take them out of the demonstration")
        if any(isinstance(part, tuple) for part in self._tail):
            raise UserError(f"{where}: {{label}} must be the last field of the demonstration")
        self._instruction = self._literal(self.instruction, "instruction")
        self._separator = self._literal(self.separator, "separator")

    def _check_kind(self, where: str) -> None:
        if self.kind not in KINDS:
            raise UserError(f"{where}: unknown type {self.kind!r}; choose from: {', '.join(KINDS)}")
        if (self.kind == "classification") != (self.verbalizer is not None):
            raise UserError(f"{where}: a {self.kind} template " + ("needs 'labels' (label -> words)" if self.kind == "classification"
                            else "takes no 'labels': its answers come from the data"))
        if (self.kind == "multiple_choice") != (self.choices_column is not None):
            raise UserError(f"{where}: " + ("a multiple_choice template needs 'choices_column: NAME', the column of each row's options"
                            if self.kind == "multiple_choice" else "'choices_column' belongs to multiple_choice templates"))
        generation_only = [name for name in ("stop", "max_new_tokens") if getattr(self, name) is not None]
        generation_only += [name for name in ("ignore_case", "ignore_punctuation") if getattr(self, name)]
        if generation_only and self.kind != "generation":
            raise UserError(f"{where}: {generation_only[0]!r} belongs to generation templates (type: generation)")
        if self.kind == "generation":
            self.stop = check_stop(list(DEFAULT_STOP) if self.stop is None else self.stop, f"{where} 'stop'")
            self.max_new_tokens = DEFAULT_MAX_NEW_TOKENS if self.max_new_tokens is None else self.max_new_tokens
            if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
                raise UserError(f"{where}: 'max_new_tokens' must be a whole number >= 1, got {self.max_new_tokens!r}")

    def _literal(self, text: str, what: str) -> str:
        parts = parse_format(text, f"template {self.name!r} {what}")
        if any(isinstance(part, tuple) for part in parts):
            raise UserError(f"template {self.name!r}: the {what} cannot contain fields; write {{{{ and }}}} for literal braces")
        return "".join(parts)

    @property
    def query_parts(self) -> list[str | tuple[str]]:
        """The query format, parsed: literal text and `(field,)` slots, in order (for exporters such as lm-eval)."""
        return list(self._query)

    @property
    def text_after_label(self) -> str:
        """Literal text the demonstration puts after its label ("" when it ends with `{label}`)."""
        return "".join(self._tail)

    @property
    def instruction_text(self) -> str:
        """The instruction as it appears in prompts (`{{` and `}}` written as single braces)."""
        return self._instruction

    @property
    def separator_text(self) -> str:
        """The separator as it appears in prompts."""
        return self._separator

    @property
    def label_context(self) -> str:
        """The fixed text just before the label (e.g. "\\nSentiment:"), used to tokenize label words in context."""
        last = self._query[-1] if self._query else ""
        return last if isinstance(last, str) else ""

    def render_query(self, values: dict[str, Any]) -> str:
        """The query part: the demonstration format up to (not including) the label and its delimiter."""
        return substitute(self._query, values, f"template {self.name!r}")

    def answer_text(self, values: dict[str, Any], label) -> str:
        """What a demonstration shows for its answer: the label's first word (classification), the right option
        (multiple choice: `label` is its index in the row's options) or the reference text (generation)."""
        if self.kind == "classification":
            return self.verbalizer.word(label)
        if self.kind == "multiple_choice":
            return values[self.choices_column][label]
        return str(label)

    def render_demonstration(self, values: dict[str, Any], label) -> str:
        """One solved example: the query, the target delimiter and the answer (`answer_text`)."""
        return self.render_query(values) + self.target_delimiter + self.answer_text(values, label) + self.text_after_label

    def render_prompt(self, values: dict[str, Any], demonstrations: list[tuple[dict[str, Any], Any]] = ()) -> str:
        """The full prompt: instruction, demonstrations (`(values, label)` pairs) and the query, separated."""
        return self.render_context(demonstrations) + self.render_query(values)

    def render_context(self, demonstrations: list[tuple[dict[str, Any], Any]] = ()) -> str:
        """Everything before the query: instruction and demonstrations, each followed by the separator.

        Prompts that share demonstrations share this text, so it can be rendered once for all of them.
        """
        parts = [self._instruction] if self._instruction else []
        parts += [self.render_demonstration(demo, label) for demo, label in demonstrations]
        return "".join(part + self._separator for part in parts)

    def with_instruction(self, instruction: str | None) -> PromptTemplate:
        """A copy with another instruction (None keeps this one)."""
        if instruction is None:
            return self
        return replace(self, instruction=instruction)

    def to_dict(self) -> dict:
        """The template as a plain dict, the shape `load_template` reads from YAML/JSON."""
        spec = {"name": self.name, "type": self.kind, "instruction": self.instruction, "demonstration": self.demonstration,
                "separator": self.separator}
        if self.kind == "classification":
            spec["labels"] = dict(self.verbalizer.words)
        if self.kind == "multiple_choice":
            spec["choices_column"] = self.choices_column
        if self.kind == "generation":
            spec.update(stop=list(self.stop), max_new_tokens=self.max_new_tokens, ignore_case=self.ignore_case,
                        ignore_punctuation=self.ignore_punctuation)
        return spec

    @classmethod
    def from_dict(cls, spec: Any, source: str) -> PromptTemplate:
        """Build a template from a dict: demonstration, type (default classification) and the keys of that type."""
        if not isinstance(spec, dict):
            raise UserError(f"template file {source!r} must hold a mapping with the key demonstration (and labels, or type)")
        unknown = sorted(set(map(str, spec)) - set(TEMPLATE_KEYS))
        if unknown:
            raise UserError(f"template file {source!r}: unknown key {unknown[0]!r}; allowed: {', '.join(TEMPLATE_KEYS)}")
        kind = spec.get("type", "classification")
        required = ("demonstration", "labels") if kind == "classification" else ("demonstration",)
        for key in required:
            if key not in spec:
                raise UserError(f"template file {source!r} lacks the key {key!r}")
        for key in ("name", "type", "instruction", "demonstration", "separator", "choices_column"):
            if key in spec and not isinstance(spec[key], str):
                raise UserError(f"template file {source!r}: {key!r} must be a string")
        for key in ("ignore_case", "ignore_punctuation"):
            if key in spec and not isinstance(spec[key], bool):
                raise UserError(f"template file {source!r}: {key!r} must be true or false")
        return cls(
            demonstration=spec["demonstration"],
            verbalizer=Verbalizer.from_spec(spec["labels"], source) if "labels" in spec else None,
            instruction=spec.get("instruction", ""),
            separator=spec.get("separator", "\n\n"),
            name=spec.get("name", Path(source).stem),
            kind=kind, choices_column=spec.get("choices_column"), stop=spec.get("stop"),
            max_new_tokens=spec.get("max_new_tokens"), ignore_case=spec.get("ignore_case", False),
            ignore_punctuation=spec.get("ignore_punctuation", False),
        )


def load_template(name_or_path: str | PromptTemplate) -> PromptTemplate:
    """A built-in template by name (see `prompts.tasks.BUILTIN_TEMPLATES`) or one from a .yaml/.json file."""
    if isinstance(name_or_path, PromptTemplate):
        return name_or_path
    if name_or_path in BUILTIN_TEMPLATES:
        return PromptTemplate.from_dict(BUILTIN_TEMPLATES[name_or_path], name_or_path)
    path = Path(name_or_path)
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise UserError(
            f"unknown template {name_or_path!r}; use a built-in one ({', '.join(BUILTIN_TEMPLATES)}) or a .yaml/.json file"
        )
    if not path.is_file():
        raise UserError(f"template file {name_or_path!r} does not exist; check the path")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            spec = loads_bounded(text)
        else:
            spec = yaml.safe_load(text)  # safe_load: no Python object tags
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"cannot read template file {name_or_path!r} ({' '.join(str(error).split())[:150]}); fix the file") from None
    except Exception as error:  # yaml.YAMLError and friends
        raise UserError(f"cannot parse template file {name_or_path!r} ({' '.join(str(error).split())[:150]}); fix the file") from None
    return PromptTemplate.from_dict(spec, name_or_path)
