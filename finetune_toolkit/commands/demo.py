"""`make demo`: the toolkit's main jobs, offline, on 2 CPU cores in a few minutes.

1. sentiment:  fine-tune the packaged MiniLM encoder on the shipped movie reviews; test accuracy
               before (fresh classification head) and after fine-tuning.
2. generation: build a small GPT-2 from a config with a byte-level BPE trained on the shipped
               reviews, fine-tune it for about a minute, and show its perplexity falling.
3. chat:       answer a question with the packaged SmolLM2-135M-Instruct through its chat template.
4. fewshot:    classify the shipped test reviews with SmolLM2 and no training at all: 0 and 4
               demonstrations, 3 seeds, with and without contextual calibration; plot accuracy vs shots.

Outputs go under outputs/demo/ (replaced on every run). `--parts` runs only some of them.
"""

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from finetune.classification import train_classifier
from finetune.data import MOVIE_REVIEW_LABELS, DataArguments, movie_review_files
from finetune.training import FinetuneTrainingArguments
from finetune_toolkit.core.command_line import format_table, parse_args
from finetune_toolkit.core.models import ModelArguments

PARTS = ("sentiment", "generation", "chat", "fewshot")
EXAMPLES = [
    "An absolute joy, with a cast at the top of its game.",
    "Two hours of my life I will never get back.",
    "The plot is thin, but the performances make it worth a look.",
]


@dataclass
class DemoArguments:
    parts: list[str] = field(default_factory=lambda: list(PARTS), metadata={"help": "Which parts: sentiment generation chat fewshot."})
    output_dir: str = field(default="outputs/demo", metadata={"help": "Where the demo's models go (replaced)."})
    encoder: str = field(default="packaged:all-MiniLM-L6-v2", metadata={"help": "Encoder for the sentiment part."})
    chat_model: str = field(default="packaged:SmolLM2-135M-Instruct", metadata={"help": "Chat model for the chat part."})
    num_train_epochs: float = field(default=4, metadata={"help": "Epochs for the sentiment part."})
    question: str = field(default="What is the capital of France?", metadata={"help": "Question for the chat part."})
    seed: int = field(default=42, metadata={"help": "Random seed."})


def sentiment(demo: DemoArguments) -> dict:
    files = movie_review_files()
    print(f"\n== 1. Sentiment: fine-tuning {demo.encoder} on 320 shipped movie reviews, testing on 120 others\n")
    output_dir = Path(demo.output_dir) / "sentiment"
    metrics = train_classifier(
        ModelArguments(model_name_or_path=demo.encoder),
        DataArguments(train_file=files["train"], validation_file=files["test"], class_names=",".join(MOVIE_REVIEW_LABELS)),
        FinetuneTrainingArguments(
            output_dir=str(output_dir), overwrite_output_dir=True, do_train=True, do_eval=True, evaluate_before_training=True,
            num_train_epochs=demo.num_train_epochs, learning_rate=1e-4, per_device_train_batch_size=16,
            per_device_eval_batch_size=64, warmup_steps=10, save_strategy="no", logging_strategy="no", print_metrics=False, seed=demo.seed,
        ),
    )
    rows = [
        {"": "before fine-tuning", "accuracy": metrics["eval_before_training_accuracy"], "f1": metrics["eval_before_training_f1"]},
        {"": "after fine-tuning", "accuracy": metrics["eval_accuracy"], "f1": metrics["eval_f1"]},
    ]
    print("\nSentiment on the 120 held-out reviews:")
    print(format_table(rows, ["", "accuracy", "f1"]))
    print(f"(training took {metrics['train_runtime']:.0f} s)\n")

    from transformers import pipeline

    classifier = pipeline("text-classification", model=str(output_dir))
    for text, prediction in zip(EXAMPLES, classifier(EXAMPLES)):
        print(f"{prediction['label']:>8} ({prediction['score']:.2f})  {text}")
    return metrics


def generation(demo: DemoArguments) -> dict:
    from finetune_toolkit.core.generation import GenerationArguments, generate
    from finetune.language_modeling import train_causal_lm
    from finetune.lm_data import LMDataArguments
    from finetune.scratch import build_gpt2
    from finetune_toolkit.core.causal_lm import load_generator

    files = movie_review_files()
    texts = [json.loads(line)["text"] for line in Path(files["train"]).read_text(encoding="utf-8").splitlines()]
    print("\n== 2. Generation: a GPT-2 from scratch (4 layers, 128 dims) with a BPE tokenizer trained on the reviews\n")
    scratch_dir = build_gpt2(Path(demo.output_dir) / "gpt2-scratch", texts, vocab_size=1000, seed=demo.seed)
    output_dir = Path(demo.output_dir) / "gpt2-reviews"
    metrics = train_causal_lm(
        ModelArguments(model_name_or_path=scratch_dir),
        LMDataArguments(train_file=files["train"], validation_file=files["test"], block_size=64),
        FinetuneTrainingArguments(
            output_dir=str(output_dir), overwrite_output_dir=True, do_train=True, do_eval=True, num_train_epochs=30,
            learning_rate=2e-3, warmup_steps=20, per_device_train_batch_size=16, save_strategy="no", logging_strategy="no", print_metrics=False,
            seed=demo.seed,
        ),
    )
    print("\nPerplexity on the 120 held-out reviews:")
    print(format_table([{"before training": metrics["eval_before_training_perplexity"], "after training": metrics["eval_perplexity"],
                         "training (s)": metrics["train_runtime"]}], ["before training", "after training", "training (s)"]))
    model, tokenizer = load_generator(str(output_dir))
    prompts = ["The acting", "A dull"]
    for prompt, (answer,) in zip(prompts, generate(model, tokenizer, prompts, GenerationArguments(max_new_tokens=16, stop=["."]))):
        print(f"  {prompt}{answer}.")
    return metrics


def chat(demo: DemoArguments) -> str:
    from finetune_toolkit.core.generation import GenerationArguments, generate
    from finetune_toolkit.core.causal_lm import load_generator

    print(f"\n== 3. Chat: {demo.chat_model} (the first run converts its GGUF weights, about 15 s)\n")
    model, tokenizer = load_generator(demo.chat_model)
    answer = generate(model, tokenizer, [demo.question], GenerationArguments(max_new_tokens=48, chat=True))[0][0]
    print(f"  user:      {demo.question}\n  assistant: {answer.strip()}")
    return answer


def fewshot(demo: DemoArguments) -> list[dict]:
    from prompts.data import FewShotDataArguments
    from prompts.summary import summarise, summary_table_rows
    from prompts import SweepArguments, run_sweep

    files = movie_review_files()
    print(f"\n== 4. Few-shot: {demo.chat_model} labels the 120 test reviews from 0 or 4 demonstrations (3 seeds)\n")
    output_dir = Path(demo.output_dir) / "fewshot"
    shutil.rmtree(output_dir, ignore_errors=True)  # a sweep would resume; the demo runs afresh
    rows = run_sweep(
        SweepArguments(model_name_or_path=[demo.chat_model], template=["sentiment"], shots=[0, 4], seeds=[0, 1, 2],
                       calibrate=True, output_dir=str(output_dir), overwrite_output_dir=True),
        FewShotDataArguments(train_file=files["train"], validation_file=files["test"]),
    )
    print(format_table(summary_table_rows(summarise(rows)), ["shots", "calibrated", "seeds", "accuracy", "macro_f1"]))
    print(f"\nPlot: {output_dir / 'accuracy_vs_shots.png'}; one row per run in {output_dir / 'results.csv'}")
    return rows


def main(argv=None) -> dict:
    (demo,) = parse_args((DemoArguments,), argv)
    unknown = [part for part in demo.parts if part not in PARTS]
    if unknown:
        from finetune_toolkit.core.errors import UserError

        raise UserError(f"unknown demo part {unknown[0]!r}; choose from: {' '.join(PARTS)}")
    results = {}
    for name, run in (("sentiment", sentiment), ("generation", generation), ("chat", chat), ("fewshot", fewshot)):
        if name in demo.parts:
            results[name] = run(demo)
    return results

