"""Fine-tune GPT-2 (or any causal LM) on your own text; report perplexity before and after.

    finetune-toolkit lm --model_name_or_path gpt2 --train_file corpus.txt \
        --do_train --do_eval --output_dir out/gpt2-mine
    finetune-toolkit lm my_config.yaml

.txt files hold one document per line (default) or per file (--document_per file); csv/json/jsonl/
parquet files take --text_column. Instruction data: `prompt`/`completion` columns, or a `messages` column
rendered with the model's chat template; the loss covers the answer only. --use_peft trains a LoRA
(--peft_type lora) or soft-prompt (--peft_type prompt_tuning) adapter; --packing batches without padding.
The saved directory (model or adapter) loads in pipeline("text-generation") and in the toolkit's loaders.
--do_predict --test_file F (prompt/completion or messages pairs) answers every test prompt with the trained model
and writes generated_predictions.jsonl and predict_results.json (ROUGE-1/2/L/Lsum, BLEU, chrF, exact match, mean
generated length, tokens/s; the generation flags --max_new_tokens, --num_beams, --stop ... apply);
--eval_with_generate adds the same scores to every evaluation (e.g. --metric_for_best_model rougeL).
--track_icl records the ICL score and induction-head scores every --track_icl_steps steps (icl_tracking.jsonl,
icl_tracking.png in --output_dir; see finetune_toolkit.emergence).
"""

from finetune_toolkit.emergence.tracking import TrackingArguments
from finetune.adapter_training import PeftArguments
from finetune.language_modeling import train_causal_lm
from finetune.lm_data import LMDataArguments
from finetune.lm_predict import GenerateEvalArguments
from finetune.training import FinetuneTrainingArguments
from finetune_toolkit.core.command_line import format_table, parse_args
from finetune_toolkit.report.arguments import ReportArguments, report_at_end
from finetune_toolkit.core.generation import DecodingArguments
from finetune_toolkit.core.models import ModelArguments, load_tokenizer

SUMMARY_KEYS = ["eval_before_training_perplexity", "eval_perplexity", "eval_loss", "eval_rougeL", "predict_rougeL", "predict_bleu",
                "predict_exact_match", "train_runtime", "block_size", "trainable_parameters"]


def main(argv=None) -> dict:
    model_args, data_args, training_args, peft_args, tracking, decoding, generate_eval, report = parse_args(
        (ModelArguments, LMDataArguments, FinetuneTrainingArguments, PeftArguments, TrackingArguments, DecodingArguments,
         GenerateEvalArguments, ReportArguments), argv
    )
    callback = tracking.callback(load_tokenizer(model_args), training_args.output_dir)
    metrics = train_causal_lm(model_args, data_args, training_args, peft_args, callbacks=[callback] if callback else [],
                              decoding=decoding, generate_eval=generate_eval)
    shown = [key for key in SUMMARY_KEYS if key in metrics]
    print(format_table([{key: metrics[key] for key in shown}], shown))
    print(f"Saved to {training_args.output_dir}")
    if training_args.do_predict:
        report_at_end(training_args.output_dir, report)
    return metrics

