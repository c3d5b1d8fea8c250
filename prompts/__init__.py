"""Few-shot in-context learning with causal LMs: templates, verbalizers, demonstration selection,
label scoring by log-probability (with shared-prefix KV-cache reuse), contextual calibration, sweeps and plots, for
three kinds of task: classification (a fixed label set), multiple choice (options per example) and generation.

One way through, each stage importing only earlier ones: `template`/`verbalizer` (what the task's fields and labels
are, and how prompts read) -> `data` (pool and evaluation examples for the template) -> `selection` (demonstrations)
-> `scoring` (label log-probabilities, `score_batching`) -> `calibration` -> `results` (`fewshot_metrics`,
`sweep_plots`). `FewShotClassifier` (`classifier`, options and outputs in `run_types`), `MultipleChoicePredictor`
(`multiple_choice`, options scored by `option_scoring`) and `AnswerGenerator` (`answer_generation`) run one
configuration, each building its prompts with `prompt_builder`; `run_sweep` (`sweep`, options in `sweep_arguments`,
one run of each kind in `run_kinds`) runs many (resumable).

    from finetune_toolkit.core.causal_lm import load_generator
    from prompts import FewShotClassifier, FewShotConfig, LabelledExamples, load_template

    model, tokenizer = load_generator("packaged:SmolLM2-135M-Instruct")
    pool = LabelledExamples([{"text": "A gem."}, {"text": "Dull."}], [1, 0])
    classifier = FewShotClassifier(model, tokenizer, load_template("sentiment"), pool, FewShotConfig(shots=2, calibrate=True))
    classifier.predict(["What a waste of an evening."]).calibrated_predictions
"""

from .answer_generation import AnswerGenerator, GeneratedAnswers
from .classifier import FewShotClassifier
from .data import FewShotDataArguments, LabelledExamples, load_fewshot_data
from .multiple_choice import ChoicePredictions, MultipleChoicePredictor
from .run_types import FewShotConfig, FewShotPredictions
from .sweep import run_sweep
from .sweep_arguments import SweepArguments
from .template import PromptTemplate, load_template
from .verbalizer import Verbalizer

__all__ = ["AnswerGenerator", "ChoicePredictions", "FewShotClassifier", "GeneratedAnswers", "MultipleChoicePredictor", "FewShotConfig", "FewShotDataArguments", "FewShotPredictions", "LabelledExamples",
           "PromptTemplate", "SweepArguments", "Verbalizer", "load_fewshot_data", "load_template", "run_sweep"]
