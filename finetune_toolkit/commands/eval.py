"""lm-evaluation-harness tasks on the toolkit's scorer: lm-eval's task library, its numbers, several times faster.

    finetune-toolkit eval --model_name_or_path packaged:SmolLM2-135M-Instruct --tasks hellaswag arc_easy \\
        --num_fewshot 5 --output_path outputs/eval

Needs the `lm-eval` extra (`pip install 'finetune-toolkit[lm-eval]'`). Writes lm-eval's results JSON (and, with
--log_samples, its per-document samples) under --output_path/<model>/, a Markdown table (printed, and results.md),
and with several models a plot of each task's metric against parameters; rerunning the same command resumes.
A .json/.yaml config file works instead of flags.
"""

from finetune_toolkit.core.command_line import parse_args
from finetune_toolkit.report.arguments import ReportArguments, report_at_end
from finetune_toolkit.evaluation.harness import EvalArguments, output_folder, run_eval


def main(argv=None) -> list[dict]:
    args, report = parse_args((EvalArguments, ReportArguments), argv)
    rows = run_eval(args)
    report_at_end(output_folder(args.output_path), report)
    return rows
