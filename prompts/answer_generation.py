"""`AnswerGenerator`: few-shot answers generated after the prompt, to be compared with reference texts.

    template = load_template("arithmetic")                  # type: generation, stop: ["\\n"]
    pool = LabelledExamples([{"question": "What is 17 plus 25?"}], ["42"])
    result = AnswerGenerator(model, tokenizer, template, pool, FewShotConfig(shots=1)).predict(examples)
    result.answers

Decoding is greedy and batched (`finetune_toolkit.core.generation.generate`, left padding, the prompts shared
out between processes under `accelerate launch`); an answer ends at the first of the template's stop strings
(or `FewShotConfig.stop`) or after `max_new_tokens`, and the stop string is cut from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.generation import GenerationArguments, generate_across_processes

from .data import LabelledExamples
from .prompt_builder import PromptBuilder
from .run_types import FewShotConfig
from .template import PromptTemplate
from .template_format import check_stop


@dataclass
class GeneratedAnswers:
    """Per-example results of `AnswerGenerator.predict`, in input order."""

    answers: list[str]  # as generated, stop string cut off (so " 42" keeps its leading space)
    demonstrations: list[list[int]]
    prompts: list[str]
    shown_labels: list[list] | None = None  # the answer each demonstration showed (its condition's)

    @property
    def example_prompt(self) -> str:
        return self.prompts[0]


class AnswerGenerator:
    """Few-shot generation: greedy answers after each prompt (see the module docstring)."""

    def __init__(self, model, tokenizer, template: PromptTemplate, pool: LabelledExamples | None, config: FewShotConfig):
        if template.kind != "generation":
            raise UserError(f"template {template.name!r} is a {template.kind} template; AnswerGenerator needs type: generation")
        if config.calibrate:
            raise UserError("--calibrate applies to classification templates (a fixed label set); drop it for generation")
        self.model, self.tokenizer, self.template, self.config = model, tokenizer, template, config
        self.stop = check_stop(list(config.stop), "--stop") if config.stop is not None else template.stop
        self.max_new_tokens = config.max_new_tokens or template.max_new_tokens
        self.prompts = PromptBuilder(model, tokenizer, template, pool, config)
        self.prompts.reserved_answer_tokens = self.max_new_tokens

    def predict(self, examples: LabelledExamples | list[dict]) -> GeneratedAnswers:
        """Generate an answer for every example (field dicts with the template's fields)."""
        queries = examples.fields if isinstance(examples, LabelledExamples) else [dict(e) for e in examples]
        if not queries:
            raise UserError("nothing to predict: the evaluation data is empty")
        texts, _, demonstrations = self.prompts.build(queries)
        args = GenerationArguments(max_new_tokens=self.max_new_tokens, stop=self.stop, chat=self.config.chat,
                                   batch_size=self.config.batch_size, truncate_prompt=False)
        answers = [outputs[0] for outputs in generate_across_processes(self.model, self.tokenizer, texts, args,
                                                                                   reuse_prefix=self.config.reuse_prefix)]
        return GeneratedAnswers(answers, demonstrations, texts, self.prompts.shown_labels(demonstrations))
