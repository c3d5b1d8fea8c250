"""A model-size ladder: GPT-2s from a few thousand to about a million parameters trained from scratch on 3-digit
addition, each scored on held-out problems by exact match and by continuous measures of the same answers.

    finetune-toolkit scaling --output_dir outputs/scaling                       # the default ladder, 2 CPU cores
    finetune-toolkit scaling --output_dir outputs/scaling-s1 --seed 1 --sizes 1x16 2x48 4x144

Writes scaling.json (settings, one row per size, the sharpness of every measure) and scaling.png; each size's
model, tokenizer and row go to <output_dir>/<size>/. Rerunning the command reads finished sizes back.
"""

from finetune_toolkit.emergence.scaling import ScalingArguments, run_ladder
from finetune_toolkit.core.command_line import format_table, parse_args
from finetune_toolkit.report.arguments import ReportArguments, report_at_end

COLUMNS = ["size", "parameters", "exact_match", "token_accuracy", "token_edit_distance", "correct_answer_log_prob",
           "train_seconds_this_run"]


def main(argv=None) -> dict:
    args, report = parse_args((ScalingArguments, ReportArguments), argv)
    result = run_ladder(args)
    print(format_table(result["models"], COLUMNS))
    print("sharpness: " + ", ".join(f"{metric} {'n/a' if value is None else f'{value:.2f}'}"
                                    for metric, value in result["sharpness"].items()))
    print(f"plot: {args.output_dir}/scaling.png")
    report_at_end(args.output_dir, report)
    return result

