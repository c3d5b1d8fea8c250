"""What the comparison compares methods on: a classification task (a template's labels, judged by label
log-probability) or a generation task (prompt/completion pairs, answers generated and judged by ROUGE, BLEU, chrF
or exact match). Each gives the trained methods their training rows and scores a model with k demonstrations."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass

from finetune.lm_data import LMDataArguments, instruction_columns, load_text_splits, split_format
from finetune.lm_predict import Pairs, generate_and_score, pairs_from_split
from prompts.answer_generation import AnswerGenerator
from prompts.classifier import FewShotClassifier
from prompts.fewshot_metrics import answer_scores
from prompts.results import prediction_rows
from prompts.data import FewShotDataArguments, LabelledExamples, load_fewshot_data
from prompts.run_types import FewShotConfig
from prompts.template import PromptTemplate, load_template
from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.generation import DecodingArguments
from finetune_toolkit.core.models import ModelArguments, load_tokenizer
from finetune_toolkit.core.prompt_encoding import is_chat, with_demonstrations


@dataclass
class ClassificationTask:
    """Labels chosen by the log-probability of their verbalizer words (`prompts.FewShotClassifier`)."""

    template: PromptTemplate
    pool: LabelledExamples
    evaluation: LabelledExamples

    def training_rows(self) -> list[dict]:
        """Prompt/completion rows: the 0-shot prompt the classifier scores, and the delimiter plus label word."""
        words = self.template.verbalizer
        return [{"prompt": self.template.render_prompt(values), "completion": self.template.target_delimiter + words.word(label)}
                for values, label in zip(self.pool.fields, self.pool.labels)]

    @property
    def label_names(self) -> list[str]:
        return list(self.template.verbalizer.label_names)

    def score(self, model_dir: str, shots: int, seed: int, calibrate: bool = False) -> tuple[float, float, list[dict]]:
        """Accuracy (after calibration with `calibrate`), the seconds it took, and one row per example (as a sweep's
        `predictions/<run>.jsonl`)."""
        model, tokenizer = load_generator(model_dir)
        config = FewShotConfig(shots=shots, seed=seed, calibrate=calibrate)
        start = time.perf_counter()
        classifier = FewShotClassifier(model, tokenizer, self.template, self.pool, config)
        result = classifier.predict(self.evaluation.fields)
        seconds = time.perf_counter() - start
        predictions = result.calibrated_predictions if calibrate else result.predictions
        rows = prediction_rows(result, self.evaluation.labels, self.pool, classifier.prompts.prompt_spans(result.prompts, result.demonstrations))
        return sum(p == y for p, y in zip(predictions, self.evaluation.labels)) / len(self.evaluation.labels), seconds, rows


@dataclass
class GenerationTask:
    """Answers generated greedily (cut at the first newline) and scored by `metric` against the references."""

    train: Pairs
    evaluation: Pairs
    metric: str
    max_new_tokens: int

    def training_rows(self) -> list[dict]:
        return [{"prompt": p, "completion": c} for p, c in zip(self.train.prompts, self.train.references)]

    label_names = None  # answers are free text

    def score(self, model_dir: str, shots: int, seed: int, calibrate: bool = False) -> tuple[float, float, list[dict]]:
        """`metric` of the answers with `shots` training pairs (drawn with `seed`) before every prompt, the seconds,
        and one row per example (prompt, reference, prediction).

        Plain-text pairs take the few-shot generation path (`prompts.AnswerGenerator`, a generation template
        `{prompt}{label}` whose demonstrations are prompt + completion, shared prefix reused); chat pairs put the
        demonstrations in as earlier turns (`with_demonstrations`), as lm-eval's `--fewshot_as_multiturn` does."""
        model, tokenizer = load_generator(model_dir)
        start = time.perf_counter()
        if any(is_chat(prompt) for prompt in self.evaluation.prompts):
            chosen = random.Random(seed).sample(range(len(self.train.prompts)), shots) if shots else []
            demonstrations = [(self.train.prompts[i], self.train.references[i]) for i in chosen]
            pairs = Pairs([with_demonstrations(demonstrations, prompt) for prompt in self.evaluation.prompts], self.evaluation.references)
            prompts = [p if isinstance(p, str) else json.dumps(p, ensure_ascii=False) for p in pairs.prompts]  # chat turns
            answers, _ = generate_and_score(model, tokenizer, pairs, DecodingArguments(max_new_tokens=self.max_new_tokens, stop=["\n"]))
        else:
            template = PromptTemplate("{prompt}{label}", name="pairs", kind="generation", stop=["\n"], max_new_tokens=self.max_new_tokens)
            pool = LabelledExamples([{"prompt": p} for p in self.train.prompts], list(self.train.references))
            config = FewShotConfig(shots=shots, seed=seed, selection="random")
            generated = AnswerGenerator(model, tokenizer, template, pool, config).predict([{"prompt": p} for p in self.evaluation.prompts])
            answers, prompts = generated.answers, generated.prompts
        seconds = time.perf_counter() - start
        scores = answer_scores(answers, self.evaluation.references, tokenizer)
        if self.metric not in scores:
            raise UserError(f"--metric {self.metric} needs rouge-score and sacrebleu; pip install 'finetune-toolkit[generation-metrics]'")
        rows = [{"index": i, "prompt": prompt, "reference": reference, "prediction": answer}
                for i, (prompt, reference, answer) in enumerate(zip(prompts, self.evaluation.references, answers))]
        return scores[self.metric], seconds, rows


def load_task(args, data: FewShotDataArguments) -> ClassificationTask | GenerationTask:
    """The task of a comparison (`adaptation.CompareArguments`), its data checked before anything runs."""
    if args.task == "classification":
        template = load_template(args.template)
        pool, evaluation = load_fewshot_data(data, template, need_pool=True)
        if pool is None:
            raise UserError("the trained methods and in-context learning need training data; pass --train_file")
        return ClassificationTask(template, pool, evaluation)
    if not data.train_file or not data.validation_file:
        raise UserError("--task generation compares methods on prompt/completion files; pass --train_file and --validation_file")
    lm_data = LMDataArguments(train_file=data.train_file, validation_file=data.validation_file, dataset_cache_dir=data.dataset_cache_dir)
    splits = load_text_splits(lm_data, ("train", "validation"))
    kind = split_format(splits["train"], lm_data)
    tokenizer = load_tokenizer(ModelArguments(args.model_name_or_path))
    columns = instruction_columns(lm_data, kind)
    train, evaluation = (pairs_from_split(splits[split], kind, columns, tokenizer, path)
                         for split, path in (("train", data.train_file), ("validation", data.validation_file)))
    if args.shots > len(train.prompts):
        raise UserError(f"{args.shots} demonstrations asked for, but the training file has {len(train.prompts)} pairs; lower --shots")
    return GenerationTask(train.first(data.max_train_samples), evaluation.first(data.max_eval_samples), args.metric, args.max_new_tokens)

