"""Few-shot in-context learning with causal LMs: a sweep over models, shots, seeds, templates and selection, for
classification, multiple-choice and generation templates.

    finetune-toolkit fewshot --model_name_or_path packaged:SmolLM2-135M-Instruct --template sentiment \\
        --train_file train.jsonl --validation_file test.jsonl --shots 0 1 4 8 --num_seeds 5 --calibrate \\
        --output_dir outputs/fewshot

Writes results.csv / results.json (one row per run), summary.json, per-example predictions, and plots
to --output_dir; rerunning the same command resumes. A .json/.yaml config file works instead of flags.
"""

from accelerate import PartialState

from prompts.data import FewShotDataArguments
from prompts.summary import metrics_present, summarise, summary_table_rows
from prompts import SweepArguments, run_sweep
from finetune_toolkit.core.command_line import format_table, parse_args
from finetune_toolkit.report.arguments import ReportArguments, report_at_end


def main(argv=None) -> list[dict]:
    sweep, data, report = parse_args((SweepArguments, FewShotDataArguments, ReportArguments), argv)
    rows = run_sweep(sweep, data)
    if not PartialState().is_main_process:
        return rows
    summary = summarise(rows)
    metrics = metrics_present(summary)
    conditions = ["condition"] if any(entry["condition"] != "gold" for entry in summary) else []
    print(format_table(summary_table_rows(summary), ["model", "template", "selection", "shots", *conditions, "calibrated",
                                                      "seeds", *metrics]))
    plot = "exact_match_vs_shots.png" if rows and rows[0].get("type") == "generation" else "accuracy_vs_shots.png"
    print(f"results: {sweep.output_dir}/results.csv, per-example predictions: {sweep.output_dir}/predictions/, "
          f"plots: {sweep.output_dir}/{plot}")
    report_at_end(sweep.output_dir, report)
    return rows

