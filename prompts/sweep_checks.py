"""Checks a sweep makes before any model loads or anything is written: options that do not apply to the templates'
kind, shot counts the pool cannot supply, demonstration conditions a template cannot show, unrelated label words the
tokenizer cannot tell apart."""

from __future__ import annotations

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.models import ModelArguments, load_tokenizer

from .demonstrations import DemonstrationView, with_unrelated_words
from .selection import choose
from .sweep_arguments import SweepArguments


def check_kinds(args: SweepArguments, templates: dict) -> None:
    """Refuse, before any data or model is loaded, options that do not apply to the templates' kind of task."""
    kinds = {template.kind for template in templates.values()}
    if len(kinds) > 1:
        raise UserError(f"the templates are of different types ({', '.join(sorted(kinds))}), whose results have different "
                        "metrics; sweep one type at a time")
    (kind,) = kinds
    if kind == "classification":
        if args.stop is not None:
            raise UserError("--stop applies to generation templates (type: generation); drop it")
        return
    if args.calibrate:
        raise UserError(f"--calibrate applies to classification templates (a fixed label set), not to {kind}; drop it")
    if args.mode != "score":
        raise UserError(f"--mode generate maps generated text to a fixed label set; a {kind} template has none, drop it")
    if kind == "multiple_choice" and (args.stop is not None or args.max_new_tokens is not None):
        raise UserError("--stop and --max_new_tokens apply to generation; a multiple_choice template scores its options")
    for option, bad in (("selection", "balanced"), ("ordering", "grouped")):
        if bad in ([args.ordering] if option == "ordering" else args.selection):
            raise UserError(f"--{option} {bad} works with a fixed label set; a {kind} template has none: choose another --{option}")


def check_demonstrations(args: SweepArguments, templates: dict, data: dict, runs: list) -> None:
    """Refuse, before any model is loaded, shot counts the pool cannot supply for some run."""
    for name, template in templates.items():
        pool = data[name][0]
        for condition in args.conditions() if any(s > 0 for s in args.shots) else []:
            DemonstrationView(template, pool, condition, 0, data[name][2])  # refuses what the template cannot show
            if condition.unrelated:
                _check_unrelated_words(args, template)
        for run in runs:
            if pool is None and (run.shots > 0 or run.selection == "indices"):
                raise UserError("few-shot prompts need a demonstration pool; pass --train_file (or a dataset with a train split)")
            if run.template != name or (run.shots == 0 and run.selection != "indices"):
                continue
            if run.selection == "nearest":
                if run.shots > len(pool):
                    raise UserError(f"{run.shots} demonstrations asked for, but the pool has {len(pool)} examples; lower --shots")
                continue
            names = template.verbalizer.label_names if template.verbalizer else None
            choose(run.selection, pool.labels, run.shots, run.seed, names, args.demonstration_indices)




def _check_unrelated_words(args: SweepArguments, template) -> None:
    """The unrelated label words must be told apart by every model's tokenizer (`with_unrelated_words`)."""
    for model in args.model_name_or_path:
        with_unrelated_words(template, load_tokenizer(ModelArguments(model)), tuple(args.unrelated_label_words))
