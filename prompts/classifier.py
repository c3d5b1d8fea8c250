"""`FewShotClassifier`: predict labels with a causal LM from a template, a verbalizer and demonstrations.

    from finetune_toolkit.core.causal_lm import load_generator
    from prompts import FewShotClassifier, FewShotConfig, LabelledExamples, load_template

    model, tokenizer = load_generator("packaged:SmolLM2-135M-Instruct")
    pool = LabelledExamples([{"text": "A gem."}, {"text": "Dull."}], [1, 0])
    classifier = FewShotClassifier(model, tokenizer, load_template("sentiment"), pool, FewShotConfig(shots=2))
    result = classifier.predict(["What a waste of an evening."])
    result.predictions, result.probabilities, result.calibrated_predictions
"""

from __future__ import annotations

import torch
from accelerate import PartialState
from accelerate.utils import gather_object

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.generation import GenerationArguments, generate_across_processes

from .calibration import calibrate, content_free_probabilities, label_probabilities
from .data import LabelledExamples
from .demonstrations import with_unrelated_words
from .prompt_builder import PromptBuilder, as_fields
from .run_types import FewShotConfig, FewShotPredictions
from .scoring import LabelScorer
from .template import PromptTemplate

# Answer length in generate mode when none is given: label words are short.
DEFAULT_ANSWER_TOKENS = 8


class FewShotClassifier:
    """Few-shot classification by label log-probability (or by generating and mapping an answer)."""

    def __init__(self, model, tokenizer, template: PromptTemplate, pool: LabelledExamples | None, config: FewShotConfig):
        if template.kind != "classification":
            raise UserError(f"template {template.name!r} is a {template.kind} template; FewShotClassifier needs a classification one "
                            "(use MultipleChoicePredictor or AnswerGenerator, or finetune-toolkit fewshot, which picks by type)")
        if config.condition.unrelated:  # the classes named by unrelated words, in the demonstrations and for the query
            template = with_unrelated_words(template, tokenizer, config.unrelated_label_words)
        self.model, self.tokenizer, self.template, self.pool, self.config = model, tokenizer, template, pool, config
        self.prompts = PromptBuilder(model, tokenizer, template, pool, config)
        if config.mode == "score":
            self.continuations = template.verbalizer.token_ids(tokenizer, template.label_context, template.target_delimiter)
            single = self._single_token_mode()
            self.scorer = LabelScorer(model, self.continuations, reduction="mean" if config.label_scoring == "mean" else "sum",
                                      batch_size=config.batch_size, single_token=single, reuse_prefix=config.reuse_prefix,
                                      progress=config.progress, prefix_store=config.prefix_store)
            self.prompts.reserved_answer_tokens = self.scorer.max_continuation_length()
        else:
            self.prompts.reserved_answer_tokens = config.max_new_tokens or DEFAULT_ANSWER_TOKENS

    def _single_token_mode(self) -> bool:
        mode, names = self.config.label_scoring, self.template.verbalizer.label_names
        if mode == "auto":
            return all(len(ids) == 1 for words in self.continuations for ids in words)
        if mode != "single":
            return False
        owner = {}
        for label, words in enumerate(self.continuations):
            for ids in words:
                if ids[0] in owner and owner[ids[0]] != label:
                    token = self.tokenizer.convert_ids_to_tokens(ids[0])
                    raise UserError(
                        f"labels {names[owner[ids[0]]]!r} and {names[label]!r} start with the same token {token!r}, so "
                        "single-token scoring cannot tell them apart; use --label_scoring sum or change the label words"
                    )
                owner[ids[0]] = label
        return True

    # -- demonstrations and prompts (prompts.prompt_builder) --------------------------------------

    def demonstrations_for(self, queries: list[dict]) -> list[list[int]]:
        """Pool indices of each query's demonstrations, in prompt order (`selection.demonstrations_for`)."""
        return self.prompts.demonstrations_for(queries)

    def render(self, query: dict, demonstrations: list[int]) -> str:
        """The prompt for one query with the given pool demonstrations."""
        return self.prompts.render(query, demonstrations)

    # -- prediction -----------------------------------------------------------------------------

    def predict(self, queries) -> FewShotPredictions:
        """Predict labels for a list of texts, a list of field dicts, or a `LabelledExamples`."""
        queries = as_fields(self.template, queries)
        texts, ids, demonstrations = self.prompts.build(queries)
        if self.config.mode == "generate":
            return self._generate(texts, demonstrations)
        groups = [tuple(d) for d in demonstrations]
        prompts, prompt_groups = list(ids), list(groups)
        content_free = {}
        if self.config.calibrate:
            for group in dict.fromkeys(groups):
                content_free[group] = range(len(prompts), len(prompts) + len(self.config.content_free_inputs))
                cf_texts = [self.render({name: value for name in self.template.fields}, list(group))
                            for value in self.config.content_free_inputs]
                prompts += self.prompts.encode(cf_texts)
                prompt_groups += [group] * len(cf_texts)
        log_scores = self._score_across_processes(prompts, prompt_groups)
        probabilities = label_probabilities(log_scores[: len(queries)])
        result = FewShotPredictions(
            predictions=probabilities.argmax(-1).tolist(), probabilities=probabilities.tolist(),
            demonstrations=demonstrations, example_prompt=texts[0], prompts=texts, label_log_probs=log_scores[: len(queries)].tolist(),
            shown_labels=self.prompts.shown_labels(demonstrations),
        )
        if self.config.calibrate:
            calibrated = torch.empty_like(probabilities)
            rows_of = {}
            for row, group in enumerate(groups):
                rows_of.setdefault(group, []).append(row)
            for group, rows in rows_of.items():
                p_cf = content_free_probabilities(log_scores[list(content_free[group])])
                calibrated[rows] = calibrate(probabilities[rows], p_cf)
            result.calibrated_predictions = calibrated.argmax(-1).tolist()
            result.calibrated_probabilities = calibrated.tolist()
        return result

    def _score_across_processes(self, prompts: list[list[int]], groups: list) -> torch.Tensor:
        """Score on this process, or, under `accelerate launch`, each process a contiguous shard, gathered."""
        state = PartialState()
        if state.num_processes == 1:
            return self.scorer.score(prompts, groups)
        with state.split_between_processes(list(range(len(prompts)))) as mine:
            scores = self.scorer.score([prompts[i] for i in mine], [groups[i] for i in mine]).tolist() if mine else []
        log_scores = torch.empty(len(prompts), self.scorer.num_labels)
        for indices, rows in gather_object([(mine, scores)]):
            if indices:
                log_scores[indices] = torch.tensor(rows, dtype=log_scores.dtype)
        return log_scores

    def _generate(self, texts: list[str], demonstrations: list[list[int]]) -> FewShotPredictions:
        args = GenerationArguments(max_new_tokens=self.config.max_new_tokens or DEFAULT_ANSWER_TOKENS, stop=["\n"], chat=self.config.chat,
                                   batch_size=self.config.batch_size)
        answers = [outputs[0] for outputs in generate_across_processes(self.model, self.tokenizer, texts, args)]
        predictions = [self.template.verbalizer.label_for_answer(answer) for answer in answers]
        verbalizer = self.template.verbalizer
        return FewShotPredictions(
            predictions=[-1 if p is None else p for p in predictions], probabilities=None,
            demonstrations=demonstrations, answers=answers, example_prompt=texts[0], prompts=texts,
            shown_labels=self.prompts.shown_labels(demonstrations),
            answer_tokens=[self.tokenizer(answer.strip(), add_special_tokens=False)["input_ids"] for answer in answers],
            label_word_tokens=[self.tokenizer(verbalizer.word(label), add_special_tokens=False)["input_ids"]
                               for label in range(verbalizer.num_labels)],
            label_words=[verbalizer.word(label) for label in range(verbalizer.num_labels)],
        )
