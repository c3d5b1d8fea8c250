"""Few-shot in-context classification with causal LMs: a sweep over models, shots, seeds, templates and selection.

    finetune-toolkit fewshot --model_name_or_path packaged:SmolLM2-135M-Instruct --template sentiment \\
        --train_file train.jsonl --validation_file test.jsonl --shots 0 1 4 8 --num_seeds 5 --calibrate \\
        --output_dir outputs/fewshot

Writes results.csv / results.json (one row per run), summary.json, per-example predictions, and plots
to --output_dir; rerunning the same command resumes. A .json/.yaml config file works instead of flags.
"""

from accelerate import PartialState

from prompts.data import FewShotDataArguments
from prompts.summary import CONTINUOUS, summarise, summary_table_rows
from prompts import SweepArguments, run_sweep
from finetune_toolkit.core.command_line import format_table, parse_args


def main(argv=None) -> list[dict]:
    sweep, data = parse_args((SweepArguments, FewShotDataArguments), argv)
    rows = run_sweep(sweep, data)
    if not PartialState().is_main_process:
        return rows
    table = summary_table_rows(summarise(rows))
    continuous = [name for name in CONTINUOUS if any(name in row for row in table)]
    print(format_table(table, ["model", "template", "selection", "shots", "calibrated", "seeds", "accuracy", "macro_f1", *continuous]))
    print(f"results: {sweep.output_dir}/results.csv, plots: {sweep.output_dir}/accuracy_vs_shots.png")
    return rows

