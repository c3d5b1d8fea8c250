#!/usr/bin/env python
"""Fine-tune GPT-2 (or any causal LM) on your own text; report perplexity before and after.

    python scripts/finetune_lm.py --model_name_or_path gpt2 --train_file corpus.txt \
        --do_train --do_eval --output_dir out/gpt2-mine
    python scripts/finetune_lm.py my_config.yaml

.txt files hold one document per line (default) or per file (--document_per file); csv/json/jsonl/
parquet files take --text_column. Instruction data: `prompt`/`completion` columns, or a `messages` column
rendered with the model's chat template; the loss covers the answer only. --use_peft trains a LoRA
(--peft_type lora) or soft-prompt (--peft_type prompt_tuning) adapter; --packing batches without padding.
The saved directory (model or adapter) loads in pipeline("text-generation") and in the toolkit's loaders.
--track_icl records the ICL score and induction-head scores every --track_icl_steps steps (icl_tracking.jsonl,
icl_tracking.png in --output_dir; see emergence_lab).
"""

from finetune_toolkit.commands.lm import main  # the same function as `finetune-toolkit lm`
from toolkit.cli import run_script

if __name__ == "__main__":
    run_script(main)
