"""One few-shot run of each kind of task: predict, then the run's table rows and its per-example predictions.

Each `run_<kind>` takes the model, the template, the pool, the evaluated examples and the run's `FewShotConfig`,
and returns `(score_rows, predictions, example_prompt)`: `score_rows` hold the kind's scores (`fewshot_metrics`), one
row per calibration, `predictions` one dict per example for `predictions/<run>.jsonl`.
"""

from __future__ import annotations

from finetune_toolkit.core.metrics import exact_match

from .answer_generation import AnswerGenerator
from .classifier import FewShotClassifier
from .data import LabelledExamples
from .fewshot_metrics import answer_scores, multiple_choice_scores
from .multiple_choice import MultipleChoicePredictor
from .results import demonstration_fields, prediction_rows, run_rows
from .run_types import FewShotConfig
from .template import PromptTemplate

# The metric a kind's plots and tables lead with, and the continuous one plotted beside it.
PRIMARY_METRIC = {"classification": "accuracy", "multiple_choice": "accuracy", "generation": "exact_match"}


def run_classification(model, tokenizer, template: PromptTemplate, pool, evaluation: LabelledExamples, config: FewShotConfig):
    """Labels of a fixed label set, scored (and calibrated) or generated and mapped (`FewShotClassifier`)."""
    predictor = FewShotClassifier(model, tokenizer, template, pool, config)
    result = predictor.predict(evaluation)
    spans = predictor.prompts.prompt_spans(result.prompts, result.demonstrations)
    return (run_rows({}, result, evaluation.labels, template.verbalizer.label_names),
            prediction_rows(result, evaluation.labels, pool, spans), result.example_prompt)


def run_multiple_choice(model, tokenizer, template: PromptTemplate, pool, evaluation: LabelledExamples, config: FewShotConfig):
    """Each example's own options scored after its prompt (`MultipleChoicePredictor`)."""
    predictor = MultipleChoicePredictor(model, tokenizer, template, pool, config)
    result = predictor.predict(evaluation)
    spans = predictor.prompts.prompt_spans(result.prompts, result.demonstrations)
    scores = multiple_choice_scores(result.option_log_probs, result.options, evaluation.labels)
    predictions = [
        {"index": i, "prompt": result.prompts[i], "prompt_spans": spans[i], "options": result.options[i],
         "label": label, "prediction": result.predictions[i], "prediction_norm": result.predictions_norm[i],
         "option_log_probs": [round(s, 6) for s in result.option_log_probs[i]],
         "probabilities": [round(p, 6) for p in probabilities], "correct": result.predictions[i] == label,
         **demonstration_fields(result, pool, i)}
        for i, (label, probabilities) in enumerate(zip(evaluation.labels, result.probabilities))]
    return [{"calibrated": False, **scores}], predictions, result.example_prompt


def run_generation(model, tokenizer, template: PromptTemplate, pool, evaluation: LabelledExamples, config: FewShotConfig):
    """Answers generated greedily and compared with the references (`AnswerGenerator`)."""
    predictor = AnswerGenerator(model, tokenizer, template, pool, config)
    result = predictor.predict(evaluation)
    spans = predictor.prompts.prompt_spans(result.prompts, result.demonstrations)
    scores = answer_scores(result.answers, evaluation.labels, tokenizer, template.ignore_case, template.ignore_punctuation)
    predictions = [
        {"index": i, "prompt": result.prompts[i], "prompt_spans": spans[i], "reference": reference, "prediction": answer,
         "exact_match": exact_match([answer], [reference], template.ignore_case, template.ignore_punctuation),
         **demonstration_fields(result, pool, i)}
        for i, (answer, reference) in enumerate(zip(result.answers, evaluation.labels))]
    return [{"calibrated": False, **scores}], predictions, result.example_prompt


RUNS = {"classification": run_classification, "multiple_choice": run_multiple_choice, "generation": run_generation}
