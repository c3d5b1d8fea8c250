"""Compare adaptation methods on the same data and model: 0-shot, k-shot ICL (calibrated and not),
prompt tuning, LoRA and full fine-tuning, all judged by label log-probability on the validation data.

    finetune-toolkit compare --model_name_or_path packaged:SmolLM2-135M-Instruct \\
        --train_file train.jsonl --validation_file validation.jsonl --max_train_samples 2000 \\
        --output_dir outputs/compare-sst2

Writes comparison.md / comparison.json (accuracy, trainable parameters, training and evaluation seconds),
accuracy_vs_parameters.png, and each trained run under runs/<method>; rerunning the command resumes.
"""

from finetune_toolkit.adaptation.compare import TABLE_COLUMNS, CompareArguments, compare_methods
from prompts.data import FewShotDataArguments
from finetune_toolkit.core.command_line import format_table, parse_args
from finetune_toolkit.report.arguments import ReportArguments, report_at_end


def main(argv=None) -> list[dict]:
    args, data, report = parse_args((CompareArguments, FewShotDataArguments, ReportArguments), argv)
    rows = compare_methods(args, data)
    print(format_table(rows, TABLE_COLUMNS))
    print(f"table: {args.output_dir}/comparison.md, plot: {args.output_dir}/accuracy_vs_parameters.png")
    report_at_end(args.output_dir, report)
    return rows

