"""`MultipleChoicePredictor`: pick each example's answer among its own options by log-probability.

    from prompts import LabelledExamples, FewShotConfig, MultipleChoicePredictor, load_template

    template = load_template("commonsense-choice")        # type: multiple_choice, choices_column: choices
    pool = LabelledExamples([{"premise": "...", "choices": ["...", "..."]}], [1])
    result = MultipleChoicePredictor(model, tokenizer, template, pool, FewShotConfig(shots=1)).predict(examples)
    result.predictions, result.predictions_norm, result.option_log_probs

Each option is scored as the continuation of the prompt (the target delimiter, then the option), encoded as
lm-evaluation-harness encodes a `loglikelihood` request (`encode_continuations`). `OptionScorer` computes each
prompt once for all its options and the demonstrations shared by many prompts once for all of them (KV-cache reuse).
"""

from __future__ import annotations

from dataclasses import dataclass

from finetune_toolkit.core.device import map_across_processes
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.prompt_encoding import encode_continuations

from .data import LabelledExamples
from .fewshot_metrics import option_probabilities
from .option_scoring import OptionScorer
from .prompt_builder import PromptBuilder
from .run_types import FewShotConfig
from .template import PromptTemplate


@dataclass
class ChoicePredictions:
    """Per-example results of `MultipleChoicePredictor.predict`, in input order."""

    options: list[list[str]]
    option_log_probs: list[list[float]]  # summed log-probability of each option's tokens after the prompt
    predictions: list[int]  # highest log-probability (lm-eval's acc)
    predictions_norm: list[int]  # highest log-probability per character of the option (lm-eval's acc_norm)
    demonstrations: list[list[int]]
    prompts: list[str]
    shown_labels: list[list] | None = None  # the option index each demonstration showed (its condition's)

    @property
    def example_prompt(self) -> str:
        return self.prompts[0]

    @property
    def probabilities(self) -> list[list[float]]:
        """Each example's options' probabilities, renormalised among its options."""
        return [option_probabilities(scores) for scores in self.option_log_probs]


class MultipleChoicePredictor:
    """Few-shot multiple choice: each example's options scored after its prompt (see the module docstring)."""

    def __init__(self, model, tokenizer, template: PromptTemplate, pool: LabelledExamples | None, config: FewShotConfig):
        if template.kind != "multiple_choice":
            raise UserError(f"template {template.name!r} is a {template.kind} template; MultipleChoicePredictor needs type: multiple_choice")
        if config.calibrate:
            raise UserError("--calibrate applies to classification templates (a fixed label set); drop it for multiple choice")
        if config.mode != "score":
            raise UserError("multiple choice scores its options; drop --mode generate")
        self.tokenizer, self.template, self.config = tokenizer, template, config
        self.prompts = PromptBuilder(model, tokenizer, template, pool, config)
        self.scorer = OptionScorer(model, batch_size=config.batch_size, reuse_prefix=config.reuse_prefix, progress=config.progress,
                                   prefix_store=config.prefix_store)

    def predict(self, examples: LabelledExamples | list[dict]) -> ChoicePredictions:
        """Score every option of every example (field dicts holding the options under the template's choices column)."""
        queries = examples.fields if isinstance(examples, LabelledExamples) else [dict(e) for e in examples]
        if not queries:
            raise UserError("nothing to predict: the evaluation data is empty")
        column, delimiter = self.template.choices_column, self.template.target_delimiter
        options = [list(query[column]) for query in queries]
        self.prompts.reserved_answer_tokens = max(
            len(ids) for ids in self.tokenizer([delimiter + o for row in options for o in row], add_special_tokens=False)["input_ids"])
        texts, _, demonstrations = self.prompts.build(queries)
        scores = map_across_processes(lambda share: self._score(share, texts, options), list(range(len(queries))))
        predictions = [max(range(len(row)), key=row.__getitem__) for row in scores]
        per_character = [[score / len(text) for score, text in zip(row, row_options)] for row, row_options in zip(scores, options)]
        return ChoicePredictions(options, scores, predictions, [max(range(len(row)), key=row.__getitem__) for row in per_character],
                                 demonstrations, texts, self.prompts.shown_labels(demonstrations))

    def _score(self, examples: list[int], texts: list[str], options: list[list[str]]) -> list[list[float]]:
        """The options' summed log-probabilities of the given examples (this process's share)."""
        pairs = [(texts[i], self.template.target_delimiter + option) for i in examples for option in options[i]]
        requests = encode_continuations(self.tokenizer, pairs)
        for (context, continuation), (_, option) in zip(requests, pairs):
            if not continuation:
                raise UserError(f"the option {option!r} encodes to no tokens after its prompt; fix the option text")
        results = iter(self.scorer.score(requests))
        return [[next(results)[0] for _ in options[i]] for i in examples]
