#!/usr/bin/env python
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

from finetune_toolkit.commands.demo import main  # the same function as `finetune-toolkit demo`
from toolkit.cli import run_script

if __name__ == "__main__":
    run_script(main)
