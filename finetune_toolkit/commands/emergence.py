"""Watch induction heads form: train 1- and 2-layer GPT-2s (or any layer counts) from scratch on repeated random
spans of varied length, recording the ICL score and every head's prefix-matching score as they train.

    finetune-toolkit emergence --output_dir outputs/emergence                 # 1 and 2 layers, about a minute on 2 CPU cores
    finetune-toolkit emergence --output_dir outputs/emergence-attn --attention_only --layers 1 2   # Olsson et al.'s case

Writes emergence.json (one row per model, with head ablations), emergence.png (training loss, ICL score and prefix
matching against steps), and per model icl_tracking.jsonl / icl_tracking.png / training_loss.jsonl;
rerunning the command resumes (finished models are read back, an interrupted one continues from its checkpoint).
"""

from finetune_toolkit.emergence.experiment import EmergenceArguments, run_experiment
from finetune_toolkit.core.command_line import format_table, parse_args
from finetune_toolkit.report.arguments import ReportArguments, report_at_end

COLUMNS = ["layers", "parameters", "steps", "first_half_loss", "repeated_half_loss", "best_prefix_matching", "best_head",
           "icl_score", "phase_change_step", "induction_head"]


def main(argv=None) -> list[dict]:
    args, report = parse_args((EmergenceArguments, ReportArguments), argv)
    rows = run_experiment(args)
    print(format_table(rows, COLUMNS))
    print(f"plot: {args.output_dir}/emergence.png")
    report_at_end(args.output_dir, report)
    return rows

