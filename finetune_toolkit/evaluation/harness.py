"""`finetune-toolkit eval`: lm-evaluation-harness tasks on the toolkit's scorer, for one model or several.

Each (model, task) pair is one `lm_eval.simple_evaluate` call on `ToolkitLM`. Its results are written as lm-eval
writes them (`<output_path>/<model>/results_<date>.json`, and `samples_<task>_<date>.jsonl` with `--log_samples`),
then recorded in `<output_path>/runs/`, so a killed run, started again with the same flags, does only the pairs
that are left (`finetune_toolkit.core.outputs.check_plan`). At the end: `results.json` (one row per model),
`results.md` (the Markdown table also printed) and, with several models, `<metric>_vs_parameters.png`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.outputs import atomic_write_json, atomic_write_text, check_plan, read_plan, running
from finetune_toolkit.core.progress import progress

from .arguments import EvalArguments, ResolvedArguments, check_generation_settings, resolve
from .tasks import build_task, task_manager
from .records import read_record, record_path, sanitized, written_results
from .report import log_to_trackers, plot_metric_vs_parameters, print_lm_eval_tables, summary_rows, summary_table

__all__ = ["EvalArguments", "run_eval"]

logger = logging.getLogger(__name__)

WHAT = "results of a different evaluation"
INSTALL_HINT = "pip install 'finetune-toolkit[lm-eval]' (lm-evaluation-harness with its Transformers backend)"


def import_lm_eval():
    """lm-eval's package, or a one-line `UserError` saying what to install."""
    try:
        import lm_eval  # noqa: F401
        from lm_eval.models import huggingface  # noqa: F401  (the `hf` extra: transformers-backed models)
    except ImportError as error:
        raise UserError(f"`finetune-toolkit eval` needs lm-evaluation-harness ({error.name or 'lm_eval'} is missing): "
                        f"{INSTALL_HINT}") from None
    return lm_eval


def run_eval(args: EvalArguments) -> list[dict]:
    """Evaluate every model on every task (see the module docstring); returns one summary row per model (on every
    process; only the main one writes)."""
    import_lm_eval()
    resolved = resolve(args)
    manager = task_manager(args.include_path, args.tasks, resolved.metadata)
    output = output_folder(args.output_path)
    plan = {key: value for key, value in asdict(args).items()
            if key not in ("batch_size", "max_batch_size", "output_path", "overwrite_output_dir", "reuse_prefix", "device",
                           "verbosity", "write_out", "show_config", "use_cache", "cache_requests")}
    resuming = output is not None and read_plan(output) == plan and not args.overwrite_output_dir
    if output is not None and not resuming and not args.overwrite_output_dir and output.is_dir() and any(output.iterdir()):
        check_plan(output, plan, False, WHAT)  # refuses, writing nothing
    pairs = [(model, task) for model in resolved.models for task in args.tasks]
    finished = {pair: record for pair in pairs if resuming and (record := read_record(output, *pair)) is not None}
    if finished:
        logger.info("resuming: %d of %d (model, task) pairs are done", len(finished), len(pairs))
    # Every task still needed is built before any model loads: a dataset that cannot be reached, or generation
    # settings that cannot run, stop the run first.
    built = {task: build_task(task, manager) for task in args.tasks if any(pair[1] == task and pair not in finished
                                                                              for pair in pairs)}
    for task, objects in built.items():
        for config in _task_configs(objects):
            check_generation_settings({**(getattr(config, "generation_kwargs", None) or {}), **(resolved.gen_kwargs or {})},
                                      f"task {task!r} with --gen_kwargs")
    main_process = _is_main_process()
    if output is not None and main_process:  # only now: a refused task leaves the output folder as it was
        previous = (read_plan(output) or {}).get("model_name_or_path") or []
        earlier = ["runs", "results.json", "results.md", *(sanitized(model) for model in previous),
                   *(path.name for path in output.glob("*_vs_parameters.png"))]
        check_plan(output, plan, args.overwrite_output_dir, WHAT, results=earlier)
    names = [f"{sanitized(model)}/{sanitized(task)}" for model, task in pairs]
    marker = running(output, "eval", names, "runs/{}.json") if output is not None and main_process else contextlib.nullcontext()
    with marker:  # a report made before the end says which pairs are missing
        bar = progress(len(pairs), "evaluating", "task", initial=len(finished), enabled=main_process)
        records = dict(finished)
        for model_name in resolved.models:
            remaining = [task for task in args.tasks if (model_name, task) not in finished]
            if not remaining:
                continue
            lm = _load(model_name, args, resolved)
            for task in remaining:
                # A built task keeps its requests once run: each model after the first gets a fresh one.
                objects = built.pop(task, None) or build_task(task, manager)
                records[(model_name, task)] = _evaluate(lm, model_name, task, objects, manager, args, resolved, output)
                bar.update(1)
            del lm
        bar.close()
    rows = summary_rows([records[pair] for pair in pairs], resolved.models, args.tasks)
    table = summary_table(rows)
    if main_process:
        print(table)
    if output is not None and main_process:
        atomic_write_json(output / "results.json", rows)
        atomic_write_text(output / "results.md", table + "\n")
        if len(resolved.models) > 1:
            for path in plot_metric_vs_parameters(rows, args.tasks, output):
                logger.info("plot: %s", path)
    return rows


def output_folder(output_path: str | None) -> Path | None:
    """lm-eval's `--output_path`: a folder, or a .json file whose folder takes the results."""
    if output_path is None:
        return None
    path = Path(output_path)
    return path.parent if path.suffix == ".json" else path


def _is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def _task_configs(objects) -> list:
    """The configs of the tasks under `objects` (tasks, or groups of them as lm-eval's `TaskManager.load` gives)."""
    configs = []
    for item in objects:
        if isinstance(item, dict):
            configs += _task_configs(list(item.values()))
        elif isinstance(item, (list, tuple)):
            configs += _task_configs(item)
        elif hasattr(item, "config"):
            configs.append(item.config)
        elif hasattr(item, "get_task_dict"):  # lm-eval >= 0.4.10 groups
            configs += _task_configs(list(item.get_task_dict().values()))
    return configs


def _load(model_name: str, args: EvalArguments, resolved: ResolvedArguments):
    from .lm_eval_model import ToolkitLM

    model_args = {key: value for key, value in resolved.model_args.items() if key != "pretrained"}
    model_args.setdefault("dtype", args.dtype)
    model_args.setdefault("device", args.device)
    model_args.setdefault("batch_size", args.batch_size)
    model_args.setdefault("max_batch_size", args.max_batch_size)
    return ToolkitLM(model_name, reuse_prefix=args.reuse_prefix, **model_args)


def _evaluate(lm, model_name: str, task: str, objects: list, manager, args: EvalArguments, resolved: ResolvedArguments,
              output: Path | None) -> dict:
    """One `simple_evaluate` call with lm-eval's flags; on the main process, its files written as lm-eval writes them
    (checked to be there and whole), then the record that marks the pair done. Other processes score their share of
    the documents and return the record lm-eval's gathered results give the main one."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker

    main_process = lm.rank == 0
    staging = Path(tempfile.mkdtemp(prefix=".eval-", dir=output)) if output is not None and main_process else None
    try:
        name = Path(args.output_path).name if args.output_path and args.output_path.endswith(".json") else "results"
        tracker = EvaluationTracker(**resolved.hf_hub_log_args, output_path=str(staging / name)) if staging else None
        python_seed, numpy_seed, torch_seed, fewshot_seed = resolved.seeds
        results = lm_eval.simple_evaluate(
            model=lm, model_args={"pretrained": model_name}, tasks=objects, num_fewshot=args.num_fewshot,
            limit=args.limit, samples=resolved.samples, log_samples=args.log_samples, task_manager=manager,
            evaluation_tracker=tracker, use_cache=args.use_cache, check_integrity=args.check_integrity,
            write_out=args.write_out, system_instruction=args.system_instruction,
            apply_chat_template=args.chat_template, fewshot_as_multiturn=args.multiturn, gen_kwargs=resolved.gen_kwargs,
            predict_only=args.predict_only, verbosity=args.verbosity, batch_size=args.batch_size,
            confirm_run_unsafe_code=args.confirm_run_unsafe_code, metadata=resolved.metadata,
            random_seed=python_seed, numpy_random_seed=numpy_seed, torch_random_seed=torch_seed,
            fewshot_random_seed=fewshot_seed, **resolved.cache_requests)
        if not main_process:  # lm-eval gathered this process's share on the main one
            return {"model": model_name, "task": task}
        samples = results.pop("samples", None)
        samples = samples if args.log_samples else None
        if args.show_config:
            print(json.dumps(results, indent=2, default=str, ensure_ascii=False))
        print_lm_eval_tables(model_name, results, args, resolved)
        log_to_trackers(results, samples, resolved)
        record = {"model": model_name, "task": task, "results": results["results"], "groups": results.get("groups", {}),
                  "n-shot": results.get("n-shot", {}), "higher_is_better": results.get("higher_is_better", {}),
                  "parameters": results.get("config", {}).get("model_num_parameters")}
        if output is None:
            return record
        tracker.save_results_aggregated(results=results, samples=samples)
        if samples:
            for task_name in results["configs"]:
                tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
        results_file = written_results(staging, task)
        folder = output if args.output_path.endswith(".json") else output / sanitized(model_name)
        folder.mkdir(parents=True, exist_ok=True)
        written = [path for path in staging.rglob("*") if path.is_file()]
        for path in written:
            os.replace(path, folder / path.name)
        record["results_file"] = str((folder / results_file.name).relative_to(output))
        record["samples_files"] = [str((folder / path.name).relative_to(output)) for path in written if path != results_file]
        atomic_write_json(record_path(output, model_name, task), json.loads(json.dumps(record, default=str)))
        return record
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
