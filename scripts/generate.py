#!/usr/bin/env python
"""Generate text with any causal LM: prompts from flags or a file, batched, greedy/beam/sampling.

    python scripts/generate.py --model_name_or_path gpt2 --prompt "Once upon a time" --max_new_tokens 40
    python scripts/generate.py --model_name_or_path packaged:SmolLM2-135M-Instruct --chat \
        --prompt "What is the capital of France?" --stream
    python scripts/generate.py --model_name_or_path out/gpt2-mine --prompts_file prompts.jsonl \
        --do_sample --top_p 0.9 --seed 0 --num_return_sequences 3 --output_file samples.jsonl

Without --output_file the answers go to stdout as plain text; with it, JSON lines (prompt, generated_text).
"""

from finetune_toolkit.commands.generate import main  # the same function as `finetune-toolkit generate`
from toolkit.cli import run_script

if __name__ == "__main__":
    run_script(main)
