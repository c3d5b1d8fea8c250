"""Few-shot prompts for a list of queries: each query's demonstrations, rendered by the template and tokenized by the
toolkit's one prompt encoding, with the oldest demonstrations dropped from a prompt too long for the model.

Every kind of task (`FewShotClassifier`, `MultipleChoicePredictor`, `AnswerGenerator`) builds its prompts here, so
the same template, pool and configuration give the same prompts whatever is done with them next.
"""

from __future__ import annotations

import logging
from collections import Counter

from finetune_toolkit.core.causal_lm import context_length
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.prompt_encoding import encode_prompts

from . import selection
from .data import LabelledExamples
from .demonstrations import DemonstrationView
from .run_types import FewShotConfig
from .template import PromptTemplate

logger = logging.getLogger(__name__)


class PromptBuilder:
    """Demonstrations and prompts of one few-shot configuration.

    reserved_answer_tokens: room kept in the model's context after each prompt for its answer.
    """

    def __init__(self, model, tokenizer, template: PromptTemplate, pool: LabelledExamples | None, config: FewShotConfig):
        self.tokenizer, self.template, self.pool, self.config = tokenizer, template, pool, config
        if config.shots > 0 or config.selection == "indices":
            if pool is None or len(pool) == 0:
                raise UserError("few-shot prompts need a demonstration pool; pass --train_file (or a dataset with a train split)")
        if template.kind != "classification" and config.selection == "balanced":
            raise UserError(f"--selection balanced balances a fixed label set; a {template.kind} template has none: "
                            "use random, first_n, indices or nearest")
        if template.kind != "classification" and config.ordering == "grouped":
            raise UserError(f"--ordering grouped groups by label; a {template.kind} template has none: use as_selected or random")
        self.max_length = context_length(model)
        self.reserved_answer_tokens = 0
        # What each demonstration shows under the run's condition (gold labels and full format by default).
        self.view = DemonstrationView(template, pool, config.condition, config.seed, config.ood_texts) if pool else None

    def demonstrations_for(self, queries: list[dict]) -> list[list[int]]:
        """Pool indices of each query's demonstrations, in prompt order (`selection.demonstrations_for`)."""
        names = self.template.verbalizer.label_names if self.template.verbalizer else None
        return selection.demonstrations_for(queries, self.pool, self.template.fields, names, self.config.demonstration_choice)

    def context(self, demonstrations: list[int]) -> str:
        """The text before the query: instruction and the demonstrations as the run's condition shows them."""
        if self.view is None:
            return self.template.render_context([])
        return self.view.context(demonstrations)

    def prompt_spans(self, texts: list[str], demonstrations: list[list[int]]) -> list[list]:
        """Where each prompt's parts lie: `[start, end, kind]` character spans, kind "instruction", "demonstration"
        or "query" (the rest). Recorded with the predictions, so a report can tell the parts apart."""
        spans = []
        for text, chosen in zip(texts, demonstrations):
            if self.view is not None:
                parts = self.view.context_parts(chosen)
            else:
                parts = [("instruction", self.context([]))] if self.context([]) else []
            start, rows = 0, []
            for kind, part in parts:
                rows.append([start, start + len(part), kind])
                start += len(part)
            spans.append(rows + [[start, len(text), "query"]])
        return spans

    def render(self, query: dict, demonstrations: list[int]) -> str:
        """The prompt for one query with the given pool demonstrations."""
        return self.context(demonstrations) + self.template.render_query(query)

    def shown_labels(self, demonstrations: list[list[int]]) -> list[list]:
        """The label each prompt's demonstrations showed (`DemonstrationView.shown_labels`)."""
        return [self.view.shown_labels(chosen) if self.view else [] for chosen in demonstrations]

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of prompts (`finetune_toolkit.core.prompt_encoding.encode_prompts`)."""
        return encode_prompts(self.tokenizer, texts)

    def build(self, queries: list[dict]) -> tuple[list[str], list[list[int]], list[list[int]]]:
        """Texts, token ids and demonstrations (pool indices) of every query's prompt, each fitting the model."""
        return self.within_context(queries, self.demonstrations_for(queries))

    def within_context(self, queries: list[dict], demonstrations: list[list[int]]) -> tuple[list[str], list[list[int]], list[list[int]]]:
        """Render and tokenize every prompt; drop the oldest demonstrations of prompts too long for the model."""
        contexts: dict[tuple, str] = {}  # demonstrations -> their rendered text, shared by the prompts that use them
        texts = []
        for query, chosen in zip(queries, demonstrations):
            key = tuple(chosen)
            if key not in contexts:
                contexts[key] = self.context(chosen)
            texts.append(contexts[key] + self.template.render_query(query))
        ids = self.encode(texts)
        if self.max_length is None:
            return texts, ids, demonstrations
        limit = self.max_length - self.reserved_answer_tokens
        dropped = Counter()
        demonstrations = list(demonstrations)
        for i, query in enumerate(queries):
            while len(ids[i]) > limit:
                if not demonstrations[i]:
                    raise UserError(
                        f"example {i + 1} alone is {len(ids[i])} tokens, more than the model's context of {self.max_length} "
                        f"minus {self.reserved_answer_tokens} for the answer; shorten it or remove it (the query is never cut)"
                    )
                demonstrations[i] = demonstrations[i][1:]
                dropped[i] += 1
                texts[i] = self.render(query, demonstrations[i])
                ids[i] = self.encode([texts[i]])[0]
        if dropped:
            logger.warning(
                "dropped the oldest demonstrations of %d of %d prompts (%d in all, at most %d from one prompt) to fit the "
                "model's %d-token context", len(dropped), len(queries), sum(dropped.values()), max(dropped.values()), self.max_length,
            )
        return texts, ids, demonstrations


def as_fields(template: PromptTemplate, queries) -> list[dict]:
    """Queries as field dicts: from a `LabelledExamples`, a `datasets.Dataset`, dicts, or texts (one-field templates)."""
    if isinstance(queries, LabelledExamples):
        return queries.fields
    if isinstance(queries, str):
        queries = [queries]
    if hasattr(queries, "column_names"):  # a datasets.Dataset whose columns are the template's fields
        queries = list(queries)
    out = []
    for query in queries:
        if isinstance(query, str):
            if len(template.fields) != 1:
                raise UserError(f"template {template.name!r} needs the fields {', '.join(template.fields)}; pass dicts, not strings")
            out.append({template.fields[0]: query})
        else:
            out.append(dict(query))
    if not out:
        raise UserError("nothing to predict: the evaluation data is empty")
    return out
