"""`finetune-toolkit eval`: lm-evaluation-harness tasks on the toolkit's scorer, for one model or several.

Each (model, task) pair is one `lm_eval.simple_evaluate` call on `ToolkitLM`. Its results are written as lm-eval
writes them (`<output_path>/<model>/results_<date>.json`, and `samples_<task>_<date>.jsonl` with `--log_samples`),
then recorded in `<output_path>/runs/`, so a killed run, started again with the same flags, does only the pairs
that are left (`finetune_toolkit.core.outputs.check_plan`). At the end: `results.json` (one row per model),
`results.md` (the Markdown table also printed) and, with several models, `<metric>_vs_parameters.png`.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.jsonio import loads_bounded
from finetune_toolkit.core.outputs import atomic_write_json, atomic_write_text, check_plan, read_plan
from finetune_toolkit.core.progress import progress

from .report import plot_metric_vs_parameters, summary_rows, summary_table

logger = logging.getLogger(__name__)

WHAT = "results of a different evaluation"
INSTALL_HINT = "pip install 'finetune-toolkit[lm-eval]' (lm-evaluation-harness with its Transformers backend)"


@dataclass
class EvalArguments:
    """The flags of `finetune-toolkit eval`: lm-eval's own names and meanings."""

    model_name_or_path: list[str] = field(metadata={
        "help": "Model(s) to evaluate: Hub ids, local folders, packaged:NAME, adapter folders. Several give one table "
                "row each and a plot of each task's metric against parameters.", "nargs": "+"})
    tasks: list[str] = field(metadata={"help": "lm-eval task or group names (space- or comma-separated), or task YAML "
                                               "files.", "nargs": "+"})
    include_path: str | None = field(default=None, metadata={"help": "A folder of task YAMLs to add to lm-eval's."})
    num_fewshot: int | None = field(default=None, metadata={"help": "Demonstrations per prompt (default: the task's own, else 0)."})
    limit: float | None = field(default=None, metadata={
        "help": "Only the first N documents of each task (a number below 1 is a fraction). For testing only."})
    batch_size: str = field(default="auto", metadata={
        "help": "Contexts per forward pass, or auto: chosen, halved on out-of-memory."})
    log_samples: bool = field(default=False, metadata={"help": "Also write every document's prompt, responses and scores."})
    output_path: str | None = field(default=None, metadata={
        "help": "Folder for the results (lm-eval's JSON files, a table, plots); rerunning resumes. Without it, only the "
                "table is printed."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace results of a different run in --output_path."})
    seed: int | None = field(default=None, metadata={
        "help": "One seed for Python, NumPy, torch and the few-shot sampling (default: lm-eval's 0, 1234, 1234, 1234)."})
    dtype: str | None = field(default=None, metadata={"help": "float32 (default), bfloat16 or float16 (GPU only)."})
    apply_chat_template: bool = field(default=False, metadata={"help": "Render prompts with the tokenizer's chat template."})
    fewshot_as_multiturn: bool = field(default=False, metadata={
        "help": "With --apply_chat_template, demonstrations as earlier user/assistant turns."})
    reuse_prefix: bool = field(default=True, metadata={
        "help": "Compute shared token prefixes once (--no_reuse_prefix scores every context whole)."})

    def __post_init__(self):
        if self.num_fewshot is not None and self.num_fewshot < 0:
            raise UserError(f"--num_fewshot must be 0 or more, got {self.num_fewshot}")
        if self.limit is not None and self.limit <= 0:
            raise UserError(f"--limit must be above 0, got {self.limit}")
        if self.limit is not None and self.limit >= 1:
            if self.limit != int(self.limit):
                raise UserError(f"--limit is a count of documents or a fraction below 1, got {self.limit}")
            self.limit = int(self.limit)
        if self.batch_size != "auto" and not (self.batch_size.isdigit() and int(self.batch_size) > 0):
            raise UserError(f"--batch_size must be a positive number or auto, got {self.batch_size!r}")
        if self.fewshot_as_multiturn and not self.apply_chat_template:
            raise UserError("--fewshot_as_multiturn needs --apply_chat_template")
        if self.include_path is not None and not Path(self.include_path).is_dir():
            raise UserError(f"--include_path {self.include_path!r} is not a folder; give the folder that holds the task YAMLs")
        self.tasks = list(dict.fromkeys(name.strip() for value in self.tasks for name in value.split(",") if name.strip()))
        if not self.tasks:
            raise UserError("--tasks needs at least one task name")
        self.model_name_or_path = list(dict.fromkeys(self.model_name_or_path))


def import_lm_eval():
    """lm-eval's package, or a one-line `UserError` saying what to install."""
    try:
        import lm_eval  # noqa: F401
        from lm_eval.models import huggingface  # noqa: F401  (the `hf` extra: transformers-backed models)
    except ImportError as error:
        raise UserError(f"`finetune-toolkit eval` needs lm-evaluation-harness ({error.name or 'lm_eval'} is missing): "
                        f"{INSTALL_HINT}") from None
    return lm_eval


def sanitized(name: str) -> str:
    """A model or task name as a file name, as lm-eval names its result folders."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name)


def task_manager(include_path: str | None, tasks: list[str]):
    """lm-eval's `TaskManager`. Tasks all found in `include_path` load without indexing lm-eval's 14,000 built-in
    ones (15 s); otherwise every built-in task is indexed, as with `lm_eval --include_path`."""
    from lm_eval.tasks import TaskManager

    names = [task for task in tasks if not task.endswith((".yaml", ".yml"))]
    if include_path is not None:
        local = TaskManager(include_path=include_path, include_defaults=False)
        if all(local.match_tasks([task]) for task in names):
            return local
    manager = TaskManager(include_path=include_path)
    for task in names:
        if not manager.match_tasks([task]):
            close = difflib.get_close_matches(task, manager.all_tasks, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            where = f" or in {include_path}" if include_path else ""
            raise UserError(f"unknown task {task!r}: not among lm-eval's tasks{where}; {hint}"
                            "`lm-eval ls tasks` lists them, --include_path adds a folder of YAMLs")
    for task in tasks:
        if task.endswith((".yaml", ".yml")) and not Path(task).is_file():
            raise UserError(f"task file {task!r} does not exist")
    return manager


def build_task(task: str, manager) -> list:
    """The task, group or tag `task` names, built with its documents loaded (lm-eval's `TaskManager.load`), ready for
    `simple_evaluate(tasks=...)`; a dataset that cannot be loaded is one line (`dataset_error`)."""
    try:
        loaded = manager.load([task])
    except Exception as error:  # noqa: BLE001 - datasets and the Hub raise many kinds; each means the same here
        refusal = dataset_error(task, error)
        if refusal is None:
            raise
        raise refusal from None
    groups = loaded["groups"]
    if task in groups:
        return [groups[task]]
    return list(loaded["tasks"].values())


def dataset_error(task: str, error: BaseException) -> UserError | None:
    """The one line for a task whose documents cannot be loaded (offline, missing files), or None for other errors."""
    if not _is_data_error(error):
        return None
    text = f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"
    names = {type(e).__name__ for e in _chain(error)}
    unreachable = {"ConnectionError", "OfflineModeIsEnabled", "LocalEntryNotFoundError", "DatasetNotFoundError",
                   "HfHubHTTPError", "RepositoryNotFoundError", "GatedRepoError", "MaxRetryError", "NewConnectionError"}
    if names & {"FileNotFoundError", "DataFilesNotFoundError", "EmptyDatasetError"} and not names & unreachable \
            and "hub" not in text.lower():
        return UserError(f"task {task!r}: a data file it names cannot be read ({text}); check the data_files of its YAML")
    return UserError(f"task {task!r}: its dataset cannot be reached ({text}); this machine may be offline: a Hub dataset "
                     "needs the network or a copy in the datasets cache, or point the task at local files "
                     "(dataset_path: json, data_files)")


def _is_data_error(error: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(error)}
    data_errors = {"DatasetNotFoundError", "FileNotFoundError", "ConnectionError", "OfflineModeIsEnabled",
                   "LocalEntryNotFoundError", "HfHubHTTPError", "HFValidationError", "DataFilesNotFoundError",
                   "EmptyDatasetError", "RepositoryNotFoundError", "GatedRepoError", "MaxRetryError", "NewConnectionError"}
    return bool(names & data_errors) or "offline" in str(error).lower()


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def run_eval(args: EvalArguments) -> list[dict]:
    """Evaluate every model on every task (see the module docstring); returns one summary row per model."""
    import_lm_eval()
    manager = task_manager(args.include_path, args.tasks)
    output = Path(args.output_path) if args.output_path else None
    plan = {key: value for key, value in asdict(args).items()
            if key not in ("batch_size", "output_path", "overwrite_output_dir", "reuse_prefix")}
    resuming = output is not None and read_plan(output) == plan and not args.overwrite_output_dir
    if output is not None and not resuming and not args.overwrite_output_dir and output.is_dir() and any(output.iterdir()):
        check_plan(output, plan, False, WHAT)  # refuses, writing nothing
    pairs = [(model, task) for model in args.model_name_or_path for task in args.tasks]
    finished = {pair: record for pair in pairs if resuming and (record := _read_record(output, *pair)) is not None}
    if finished:
        logger.info("resuming: %d of %d (model, task) pairs are done", len(finished), len(pairs))
    # Every task still needed is built before any model loads: a dataset that cannot be reached stops the run first.
    built = {task: build_task(task, manager) for task in args.tasks if any(pair[1] == task and pair not in finished
                                                                              for pair in pairs)}
    if output is not None:  # only now: a refused task leaves the output folder as it was
        previous = (read_plan(output) or {}).get("model_name_or_path", [])
        earlier = ["runs", "results.json", "results.md", *(sanitized(model) for model in previous),
                   *(path.name for path in output.glob("*_vs_parameters.png"))]
        check_plan(output, plan, args.overwrite_output_dir, WHAT, results=earlier)
    bar = progress(len(pairs), "evaluating", "task", initial=len(finished))
    records = dict(finished)
    for model_name in args.model_name_or_path:
        remaining = [task for task in args.tasks if (model_name, task) not in finished]
        if not remaining:
            continue
        lm = _load(model_name, args)
        for task in remaining:
            # A built task keeps its requests once run: each model after the first gets a fresh one.
            objects = built.pop(task, None) or build_task(task, manager)
            records[(model_name, task)] = _evaluate(lm, model_name, task, objects, manager, args, output)
            bar.update(1)
        del lm
    bar.close()
    rows = summary_rows([records[pair] for pair in pairs], args.model_name_or_path, args.tasks)
    table = summary_table(rows)
    print(table)
    if output is not None:
        atomic_write_json(output / "results.json", rows)
        atomic_write_text(output / "results.md", table + "\n")
        if len(args.model_name_or_path) > 1:
            for path in plot_metric_vs_parameters(rows, args.tasks, output):
                logger.info("plot: %s", path)
    return rows


def _load(model_name: str, args: EvalArguments):
    from .lm_eval_model import ToolkitLM

    return ToolkitLM(model_name, batch_size=args.batch_size, dtype=args.dtype, reuse_prefix=args.reuse_prefix)


def _record_path(output: Path, model_name: str, task: str) -> Path:
    return output / "runs" / sanitized(model_name) / f"{sanitized(task)}.json"


def _read_record(output: Path | None, model_name: str, task: str) -> dict | None:
    if output is None:
        return None
    path = _record_path(output, model_name, task)
    try:
        record = loads_bounded(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not done, or unreadable: done again
    results_file = output / record.get("results_file", "")
    return record if record.get("task") == task and results_file.is_file() else None


def _evaluate(lm, model_name: str, task: str, objects: list, manager, args: EvalArguments, output: Path | None) -> dict:
    """One `simple_evaluate` call; its files written as lm-eval writes them, then the record that marks it done."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker

    staging = Path(tempfile.mkdtemp(prefix=".eval-", dir=output)) if output is not None else None
    try:
        tracker = EvaluationTracker(output_path=str(staging / "results.json")) if staging is not None else None
        python_seed, other_seed = (0, 1234) if args.seed is None else (args.seed, args.seed)
        results = lm_eval.simple_evaluate(
            model=lm, model_args={"pretrained": model_name}, tasks=objects, num_fewshot=args.num_fewshot,
            limit=args.limit, log_samples=args.log_samples, task_manager=manager, evaluation_tracker=tracker,
            apply_chat_template=args.apply_chat_template, fewshot_as_multiturn=args.fewshot_as_multiturn,
            batch_size=args.batch_size, random_seed=python_seed, numpy_random_seed=other_seed,
            torch_random_seed=other_seed, fewshot_random_seed=other_seed)
        samples = results.pop("samples", None)
        if not args.log_samples:
            samples = None
        record = {"model": model_name, "task": task, "results": results["results"], "groups": results.get("groups", {}),
                  "n-shot": results.get("n-shot", {}), "higher_is_better": results.get("higher_is_better", {}),
                  "parameters": results.get("config", {}).get("model_num_parameters")}
        if output is None:
            return record
        tracker.save_results_aggregated(results=results, samples=samples)
        if samples:
            for name in results["configs"]:
                tracker.save_results_samples(task_name=name, samples=samples[name])
        folder = output / sanitized(model_name)
        folder.mkdir(parents=True, exist_ok=True)
        written = sorted(staging.iterdir(), key=lambda path: path.name.startswith("results"))  # results file last
        for path in written:
            os.replace(path, folder / path.name)
        record["results_file"] = str((folder / written[-1].name).relative_to(output))
        record["samples_files"] = [str((folder / path.name).relative_to(output)) for path in written[:-1]]
        atomic_write_json(_record_path(output, model_name, task), json.loads(json.dumps(record, default=str)))
        return record
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
