"""Sweeps: models x templates x selections x shots x seeds, calibrated and not, one row per run.

Every finished run is written at once (atomically) to `runs/<run>.json` with its per-example predictions
in `predictions/<run>.jsonl`, and `results.csv` / `results.json` are rebuilt from the finished runs. A
sweep restarted on the same output directory skips the runs already there, so a killed sweep loses at
most the run in progress, and adding seeds or shots to a finished sweep runs only the new ones.
Zero-shot prompts have no demonstrations, so one zero-shot run serves every seed and selection.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from accelerate import PartialState
from tqdm.auto import tqdm

from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.jsonio import loads_bounded
from finetune_toolkit.core.models import ModelArguments
from finetune_toolkit.core.outputs import atomic_write_json, atomic_write_jsonl, check_plan, running
from finetune_toolkit.core.prefixes import PrefixStore

from .data import FewShotDataArguments, load_fewshot_data, load_ood_texts
from .demonstrations import DemonstrationCondition
from .order_selection import choose_orders_of_model
from .order_study import order_permutations
from .results import RESULT_FILES, result_rows, write_results
from .studies import STUDY_FILES, run_predictions, write_studies
from .run_kinds import PRIMARY_METRIC, RUNS
from .sweep_checks import check_demonstrations, check_kinds
from .sweep_arguments import SweepArguments
from .template import load_template

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    model: str
    template: str
    selection: str
    shots: int
    seed: int
    condition: DemonstrationCondition = DemonstrationCondition()
    order: int | None = None  # index into order_permutations(shots, ...), for order studies

    @property
    def key(self) -> str:
        """File name of the run's record; zero-shot runs share one record across seeds and selections."""
        if self.shots == 0 and self.selection != "indices":
            return _slug(f"{self.model}__{self.template}__0shot")
        key = f"{self.model}__{self.template}__{self.selection}__{self.shots}shot__seed{self.seed}"
        key += "" if self.condition.is_gold else f"__{self.condition.name}"
        return _slug(key + ("" if self.order is None else f"__order{self.order}"))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-.")


def plan(args: SweepArguments) -> list[Run]:
    """Every run of the sweep, in the order they are done (one model loaded at a time): each demonstration condition
    and each order for runs with shots, one gold run in the selection's order for 0 shots."""
    runs = []
    for model in args.model_name_or_path:
        for template in args.template:
            for selection in args.selection:
                for shots in args.shots:
                    for seed in args.seeds:
                        conditions = args.conditions() if shots > 0 else [DemonstrationCondition()]
                        orders = range(len(order_permutations(shots, args.orders, seed, args.max_orders))) \
                            if args.orders and shots > 1 else [None]
                        runs += [Run(model, template, selection, shots, seed, condition, order)
                                 for condition in conditions for order in orders]
    return runs


def _fixed_settings(args: SweepArguments, data_args: FewShotDataArguments, templates: dict) -> dict:
    """Settings that change the result of a run; a resumed sweep must have the same ones."""
    settings = asdict(args)
    for name in ("model_name_or_path", "template", "shots", "seeds", "num_seeds", "selection", "output_dir",
                 "overwrite_output_dir", "batch_size", "reuse_prefix", "instruction", "attn_implementation"):
        settings.pop(name)
    settings["data"] = asdict(data_args)
    settings["templates"] = {name: template.to_dict() for name, template in templates.items()}
    return settings


def prepare_output_dir(args: SweepArguments, settings: dict) -> Path:
    """Resume the same sweep, start a new one, or refuse to mix in a different one (`finetune_toolkit.core.outputs.check_plan`)."""
    check_plan(args.output_dir, settings, args.overwrite_output_dir, "a different sweep", results=("runs", "predictions", *RESULT_FILES, *STUDY_FILES))
    output_dir = Path(args.output_dir)
    (output_dir / "runs").mkdir(parents=True, exist_ok=True)
    (output_dir / "predictions").mkdir(exist_ok=True)
    return output_dir


def _read_json(path: Path):
    try:
        return loads_bounded(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable: treated as absent, the run is done again


def run_sweep(args: SweepArguments, data_args: FewShotDataArguments) -> list[dict]:
    """Run every pending run of the sweep; return all rows (finished earlier or now) in sweep order."""
    templates = {name: load_template(name).with_instruction(args.instruction) for name in args.template}
    check_kinds(args, templates)
    need_pool = any(s > 0 for s in args.shots) or "indices" in args.selection
    ood_texts = load_ood_texts(args.ood_inputs) if args.ood_inputs else None
    data = {name: (*load_fewshot_data(data_args, template, need_pool), ood_texts) for name, template in templates.items()}
    check_demonstrations(args, templates, data, plan(args))
    settings = _fixed_settings(args, data_args, templates)
    # Under `accelerate launch` every process scores a shard of each run; only the main process writes.
    state = PartialState()
    created = not Path(args.output_dir or "").exists()
    if state.is_main_process:
        output_dir = prepare_output_dir(args, settings)
    state.wait_for_everyone()
    output_dir = Path(args.output_dir)
    try:
        if not state.is_main_process:
            return _run_pending(args, templates, data, settings, output_dir, False)
        with running(output_dir, "fewshot", list(dict.fromkeys(run.key for run in plan(args))), "runs/{}.json"):
            return _run_pending(args, templates, data, settings, output_dir, True)
    except BaseException:
        if state.is_main_process and created and not any((output_dir / "runs").iterdir()):
            shutil.rmtree(output_dir, ignore_errors=True)  # nothing finished: leave no half-made directory behind
        raise


def _run_pending(args, templates, data, settings, output_dir, is_main_process: bool) -> list[dict]:
    runs = plan(args)
    distinct = list({run.key: run for run in runs}.values())  # a zero-shot run serves every seed and selection
    records = {run.key: _read_json(output_dir / "runs" / f"{run.key}.json") for run in runs}
    records = {key: record for key, record in records.items() if record and record.get("settings") == _run_settings(settings, key)}
    done = sum(run.key in records for run in distinct)
    if done:
        logger.warning("resuming: %d of %d runs already in %s", done, len(distinct), output_dir)
    bar = tqdm(total=len(distinct), initial=done, desc="sweep", unit="run", disable=None if is_main_process else True)
    try:
        for model_name in args.model_name_or_path:
            pending = [run for run in distinct if run.model == model_name and run.key not in records]
            if not pending:
                continue
            model, tokenizer = load_generator(ModelArguments(model_name, attn_implementation=args.attn_implementation), args.dtype)
            parameters = sum(p.numel() for p in model.parameters())
            # An order study's runs share their demonstrations' first tokens: each distinct prefix is computed once.
            store = PrefixStore() if args.orders else None
            for run in pending:
                records[run.key] = _run_one(run, model, tokenizer, parameters, templates[run.template], data[run.template],
                                            args, output_dir, _run_settings(settings, run.key), is_main_process, store)
                if is_main_process:
                    write_results(output_dir, result_rows(runs, records))
                    if bar.disable:  # not a terminal: one line per finished run instead of a bar
                        row = records[run.key]["rows"][-1]
                        finished = sum(other.key in records for other in distinct)
                        metric = PRIMARY_METRIC[templates[run.template].kind]
                        print(f"run {finished}/{len(distinct)} done: {run.key}: {metric} {row[metric]:.4f}"
                              f"{' (calibrated)' if row['calibrated'] else ''} in {row['seconds']:.1f} s", file=sys.stderr)
                bar.update(1)
            if args.order_choice and is_main_process:
                choices = choose_orders_of_model(args, model, tokenizer, templates, data,
                                                 [run for run in distinct if run.model == model_name], records)
                atomic_write_json(output_dir / "order_choice" / f"{_slug(model_name)}.json", choices)
            del model
    finally:
        bar.close()  # before any error message, so that it stays the last line
    rows = result_rows(runs, records)
    if is_main_process:
        write_results(output_dir, rows, plots=True)
        metric = PRIMARY_METRIC[next(iter(templates.values())).kind]
        line = write_studies(output_dir, rows, {run.key: run_predictions(output_dir, run) for run in distinct}, metric)
        if line:
            print(line)
    return rows


def _run_settings(settings: dict, key: str) -> dict:
    return {"sweep": settings, "run": key}


def _run_one(run: Run, model, tokenizer, parameters: int, template, data, args: SweepArguments, output_dir: Path,
             settings: dict, is_main_process: bool = True, store: PrefixStore | None = None) -> dict:
    pool, evaluation, ood_texts = data
    order = None if run.order is None else order_permutations(run.shots, args.orders, run.seed, args.max_orders)[run.order]
    config = args.config_for(run.shots, run.seed, run.selection, progress=is_main_process, condition=run.condition,
                             demo_order=order, ood_texts=ood_texts if run.condition.ood_inputs else None, prefix_store=store)
    start = time.perf_counter()
    score_rows, predictions, example_prompt = RUNS[template.kind](model, tokenizer, template, pool, evaluation, config)
    seconds = time.perf_counter() - start
    base = {"model": run.model, "parameters": parameters, "template": run.template, "type": template.kind, "shots": run.shots,
            "condition": run.condition.name, "order": None if order is None else "-".join(map(str, order)),
            "examples": len(evaluation), "seconds": round(seconds, 3),
            "examples_per_second": round(len(evaluation) / seconds, 3)}
    rows = [{**base, **row} for row in score_rows]
    predictions = [{**prediction, "condition": base["condition"], "order": base["order"]} for prediction in predictions]
    record = {"settings": settings, "rows": rows, "example_prompt": example_prompt, "kind": template.kind}
    if template.kind == "classification":  # what a report shows for the label ids in the predictions
        record["label_names"] = list(template.verbalizer.label_names)
    if is_main_process:
        atomic_write_jsonl(output_dir / "predictions" / f"{run.key}.jsonl", predictions)
        atomic_write_json(output_dir / "runs" / f"{run.key}.json", record)  # last: its presence marks the run finished
    return record
