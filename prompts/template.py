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
braces. Nothing in a template or a field value is ever evaluated: `{text.__class__}` is an error, and
values are inserted verbatim, never re-parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.jsonio import loads_bounded

from .tasks import BUILTIN_TEMPLATES
from .verbalizer import Verbalizer

LABEL = "label"
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
TEMPLATE_KEYS = ("name", "instruction", "demonstration", "separator", "labels")


def parse_format(text: str, where: str) -> list[str | tuple[str]]:
    """Split a format string into literal strings and `(field_name,)` tuples; refuse anything but plain names."""
    if not isinstance(text, str):
        raise UserError(f"{where} must be a string, got {type(text).__name__}")
    parts: list[str | tuple[str]] = []
    literal, position = [], 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position:match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif token in ("{", "}"):
            raise UserError(
                f"{where} has an unbalanced {token!r} at character {match.start() + 1}; write {token * 2} for a literal brace"
            )
        else:
            name = match.group(1)
            if not _NAME.match(name):
                raise UserError(
                    f"{where}: {token} is not a field; fields are plain names such as {{text}} "
                    "(no attributes, indexes, conversions or format specs)"
                )
            parts.append("".join(literal))
            parts.append((name,))
            literal = []
    parts.append("".join(literal) + text[position:])
    return [part for part in parts if part != ""]


def substitute(parts: list[str | tuple[str]], values: dict[str, Any], where: str) -> str:
    """Fill the fields of a parsed format with `values`; a missing or non-text value is an error naming the field."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        (name,) = part
        if name not in values:
            raise UserError(f"{where} needs the field {name!r}, which the data lacks; rename a column or pass --text_columns")
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise UserError(f"field {name!r} must be text, got {type(value).__name__} ({str(value)[:40]!r})")
        out.append(str(value))
    return "".join(out)


@dataclass
class PromptTemplate:
    """How a few-shot prompt is laid out.

    demonstration: one solved example, e.g. "Review: {text}\\nSentiment: {label}"; `{label}` appears once.
    verbalizer: label names (in label-id order) and the words that stand for them.
    instruction: text put before the demonstrations (optional).
    separator: between the instruction, the demonstrations and the query.
    """
    demonstration: str
    verbalizer: Verbalizer
    instruction: str = ""
    separator: str = "\n\n"
    name: str = "custom"
    fields: list[str] = field(init=False)

    def __post_init__(self):
        where = f"template {self.name!r}"
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
        if any(isinstance(part, tuple) for part in self._tail):
            raise UserError(f"{where}: {{label}} must be the last field of the demonstration")
        self._instruction = self._literal(self.instruction, "instruction")
        self._separator = self._literal(self.separator, "separator")

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

    def render_demonstration(self, values: dict[str, Any], label: int) -> str:
        """One solved example, with the label's first verbalizer word."""
        word = self.verbalizer.word(label)
        return self.render_query(values) + self.target_delimiter + word + self.text_after_label

    def render_prompt(self, values: dict[str, Any], demonstrations: list[tuple[dict[str, Any], int]] = ()) -> str:
        """The full prompt: instruction, demonstrations (`(values, label_id)` pairs) and the query, separated."""
        return self.render_context(demonstrations) + self.render_query(values)

    def render_context(self, demonstrations: list[tuple[dict[str, Any], int]] = ()) -> str:
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
        return PromptTemplate(self.demonstration, self.verbalizer, instruction, self.separator, self.name)

    def to_dict(self) -> dict:
        """The template as a plain dict, the shape `load_template` reads from YAML/JSON."""
        return {"name": self.name, "instruction": self.instruction, "demonstration": self.demonstration,
                "separator": self.separator, "labels": dict(self.verbalizer.words)}

    @classmethod
    def from_dict(cls, spec: Any, source: str) -> PromptTemplate:
        """Build a template from a dict with keys demonstration, labels and optionally instruction, separator, name."""
        if not isinstance(spec, dict):
            raise UserError(f"template file {source!r} must hold a mapping with keys demonstration and labels")
        unknown = sorted(set(map(str, spec)) - set(TEMPLATE_KEYS))
        if unknown:
            raise UserError(f"template file {source!r}: unknown key {unknown[0]!r}; allowed: {', '.join(TEMPLATE_KEYS)}")
        for key in ("demonstration", "labels"):
            if key not in spec:
                raise UserError(f"template file {source!r} lacks the key {key!r}")
        for key in ("name", "instruction", "demonstration", "separator"):
            if key in spec and not isinstance(spec[key], str):
                raise UserError(f"template file {source!r}: {key!r} must be a string")
        return cls(
            demonstration=spec["demonstration"],
            verbalizer=Verbalizer.from_spec(spec["labels"], source),
            instruction=spec.get("instruction", ""),
            separator=spec.get("separator", "\n\n"),
            name=spec.get("name", Path(source).stem),
        )


def load_template(name_or_path: str | PromptTemplate) -> PromptTemplate:
    """A built-in template by name (`sentiment`, `topic`, `question-type`, `entailment`) or one from a .yaml/.json file."""
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
