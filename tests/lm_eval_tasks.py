"""lm-eval task YAMLs written for the tests: one per output type, on local JSON files (no Hub)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "prompts" / "examples"
WORDS = "the river runs past the old mill where children play and the miller sings of rain , grain and bread".split()


def _json_source(**files: str) -> dict:
    return {"dataset_path": "json", "dataset_kwargs": {"data_files": files}}


def write_tasks(directory: Path, documents: int = 6) -> Path:
    """`toolkit_mc` (antonyms, four options), `toolkit_gen` (two-digit additions, greedy until a newline) and
    `toolkit_ppl` (rolling log-likelihood of made-up paragraphs, lm-eval's word and byte perplexity)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    pages = [{"page": " ".join(rng.choice(WORDS) for _ in range(40 + 30 * i)) + " ."} for i in range(documents)]
    (directory / "pages.jsonl").write_text("".join(json.dumps(page) + "\n" for page in pages))
    splits = {"training_split": "train", "validation_split": "validation", "fewshot_split": "train"}
    tasks = [
        {"task": "toolkit_mc", **_json_source(train=str(EXAMPLES / "antonyms/train.jsonl"),
                                              validation=str(EXAMPLES / "antonyms/validation.jsonl")), **splits,
         "output_type": "multiple_choice", "doc_to_text": "The opposite of {{word}} is", "doc_to_choice": "{{choices}}",
         "doc_to_target": "label", "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                                                   {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}]},
        {"task": "toolkit_gen", **_json_source(train=str(EXAMPLES / "arithmetic/train.jsonl"),
                                               validation=str(EXAMPLES / "arithmetic/validation.jsonl")), **splits,
         "output_type": "generate_until", "doc_to_text": "Question: {{question}}\nAnswer:", "doc_to_target": "{{label}}",
         "target_delimiter": " ", "generation_kwargs": {"until": ["\n"], "max_gen_toks": 8, "do_sample": False},
         "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
         "filter_list": [{"name": "strip", "filter": [{"function": "remove_whitespace"}, {"function": "take_first"}]}]},
        {"task": "toolkit_ppl", **_json_source(train=str(directory / "pages.jsonl"), test=str(directory / "pages.jsonl")),
         "training_split": "train", "test_split": "test", "fewshot_split": "train",
         "output_type": "loglikelihood_rolling", "doc_to_text": "", "doc_to_target": "{{page}}",
         "metric_list": [{"metric": "word_perplexity"}, {"metric": "byte_perplexity"}, {"metric": "bits_per_byte"}]},
    ]
    for task in tasks:
        (directory / f"{task['task']}.yaml").write_text(yaml.safe_dump(task, sort_keys=False))
    return directory
