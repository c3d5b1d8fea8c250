"""Fine-tune GPT-2 (or any causal LM) on your own text; report perplexity before and after.

    finetune-toolkit lm --model_name_or_path gpt2 --train_file corpus.txt \
        --do_train --do_eval --output_dir out/gpt2-mine
    finetune-toolkit lm my_config.yaml

.txt files hold one document per line (default) or per file (--document_per file); csv/json/jsonl/
parquet files take --text_column. Instruction data: `prompt`/`completion` columns, or a `messages` column
rendered with the model's chat template; the loss covers the answer only. --use_peft trains a LoRA
(--peft_type lora) or soft-prompt (--peft_type prompt_tuning) adapter; --packing batches without padding.
The saved directory (model or adapter) loads in pipeline("text-generation") and in the toolkit's loaders.
--track_icl records the ICL score and induction-head scores every --track_icl_steps steps (icl_tracking.jsonl,
icl_tracking.png in --output_dir; see emergence_lab).
"""

from emergence_lab.tracking import TrackingArguments
from finetune.adapter_training import PeftArguments
from finetune.language_modeling import train_causal_lm
from finetune.lm_data import LMDataArguments
from finetune.training import FinetuneTrainingArguments
from toolkit.cli import format_table, parse_args
from toolkit.models import ModelArguments, load_tokenizer

SUMMARY_KEYS = ["eval_before_training_perplexity", "eval_perplexity", "eval_loss", "train_runtime", "block_size", "trainable_parameters"]


def main(argv=None) -> dict:
    model_args, data_args, training_args, peft_args, tracking = parse_args(
        (ModelArguments, LMDataArguments, FinetuneTrainingArguments, PeftArguments, TrackingArguments), argv
    )
    callback = tracking.callback(load_tokenizer(model_args), training_args.output_dir)
    metrics = train_causal_lm(model_args, data_args, training_args, peft_args, callbacks=[callback] if callback else [])
    shown = [key for key in SUMMARY_KEYS if key in metrics]
    print(format_table([{key: metrics[key] for key in shown}], shown))
    print(f"Saved to {training_args.output_dir}")
    return metrics

