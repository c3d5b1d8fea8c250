"""The flags of `finetune-toolkit eval`: lm-evaluation-harness 0.4's own names, defaults and meanings, plus the
toolkit's (`--model_name_or_path` for several models, `--overwrite_output_dir`, `--no_reuse_prefix`).

Values that lm-eval parses itself (`--model_args`, `--gen_kwargs`, `--metadata`, `--seed`, `--samples`,
`--cache_requests`) are kept as typed and read by lm-eval's own parsers in `resolve`, which runs before any model
loads or any request is made, so a bad value is one line and nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from finetune_toolkit.core.errors import UserError

# model_args keys HFLM takes that ToolkitLM passes on to it unchanged
HFLM_KEYS = {"max_length", "add_bos_token", "prefix_token_id", "enable_thinking", "chat_template_args", "truncation",
             "logits_cache", "think_end_token", "softmax_dtype", "max_batch_size", "batch_size", "backend"}
# model_args keys the toolkit's loading reads
LOADING_KEYS = {"pretrained", "revision", "tokenizer", "dtype", "device"}


@dataclass
class EvalArguments:
    """`finetune-toolkit eval`: lm-eval's flags with lm-eval's meanings (see the module docstring)."""

    tasks: list[str] = field(metadata={"help": "lm-eval task or group names (space- or comma-separated), or task YAML "
                                               "files.", "nargs": "+"})
    model_name_or_path: list[str] | None = field(default=None, metadata={
        "help": "Model(s) to evaluate: Hub ids, local folders, packaged:NAME, adapter folders. Several give one table "
                "row each and a plot of each task's metric against parameters. Or give --model_args pretrained=NAME.",
        "nargs": "+"})
    model: str = field(default="hf", metadata={
        "help": "lm-eval's model type: hf (the default; here it is the toolkit's backend, ToolkitLM) or finetune-toolkit."})
    model_args: list[str] | None = field(default=None, metadata={
        "help": "As lm-eval: key=value pairs, comma- or space-separated: pretrained, revision, tokenizer, dtype (auto: "
                "the checkpoint's), device, max_length, add_bos_token, enable_thinking, chat_template_args, ...",
        "nargs": "+"})
    include_path: str | None = field(default=None, metadata={"help": "A folder of task YAMLs to add to lm-eval's."})
    num_fewshot: int | None = field(default=None, metadata={"help": "Demonstrations per prompt (default: the task's own, else 0)."})
    limit: float | None = field(default=None, metadata={
        "help": "Only the first N documents of each task (a number below 1 is a fraction). For testing only."})
    samples: str | None = field(default=None, metadata={
        "help": "JSON (or a JSON file) mapping task names to the document indices to evaluate; not with --limit."})
    batch_size: str = field(default="auto", metadata={
        "help": "Contexts per forward pass: a number, auto (chosen by the toolkit, halved on out-of-memory) or auto:N "
                "(the same here: the toolkit's rule needs no probing)."})
    max_batch_size: int | None = field(default=None, metadata={"help": "The largest batch auto may choose."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:N, mps (default: the one Accelerate picks)."})
    gen_kwargs: list[str] | None = field(default=None, metadata={
        "help": "Generation settings for every generation task, key=value (e.g. temperature=0 max_gen_toks=64).",
        "nargs": "+"})
    log_samples: bool = field(default=False, metadata={"help": "Also write every document's prompt, responses and scores."})
    output_path: str | None = field(default=None, metadata={
        "help": "A folder for the results (lm-eval's files per model, a table, plots; rerunning resumes), or a .json "
                "file whose folder takes them. Without it, only the table is printed."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace results of a different run in --output_path."})
    use_cache: str | None = field(default=None, metadata={
        "help": "lm-eval's response cache: a path prefix of an SQLite file; repeated requests are not run again."})
    cache_requests: str | None = field(default=None, metadata={
        "help": "lm-eval's cache of built requests: true, refresh or delete.", "nargs": "?", "const": "true"})
    check_integrity: bool = field(default=False, metadata={"help": "Run the tasks' own tests first (lm-eval)."})
    write_out: bool = field(default=False, metadata={"help": "Print the prompts of the first documents (lm-eval)."})
    show_config: bool = field(default=False, metadata={"help": "Print the tasks' full configuration after the run."})
    system_instruction: str | None = field(default=None, metadata={"help": "A system message before every prompt."})
    apply_chat_template: str | None = field(default=None, metadata={
        "help": "Render prompts with the tokenizer's chat template (optionally naming one of its templates).",
        "nargs": "?", "const": "true"})
    fewshot_as_multiturn: str | None = field(default=None, metadata={
        "help": "Demonstrations as earlier user/assistant turns: on by default with --apply_chat_template (as lm-eval); "
                "false turns it off.", "nargs": "?", "const": "true"})
    predict_only: bool = field(default=False, metadata={"help": "Write the model's outputs only, no metrics (implies --log_samples)."})
    seed: str | None = field(default=None, metadata={
        "help": "Seeds for Python, NumPy, torch and the few-shot sampling: one number for all four, or four "
                "comma-separated (None leaves one unset). Default: 0,1234,1234,1234, as lm-eval."})
    metadata: list[str] | None = field(default=None, metadata={
        "help": "key=value pairs or a JSON object for tasks that need them (merged with --model_args), as lm-eval.",
        "nargs": "+"})
    confirm_run_unsafe_code: bool = field(default=False, metadata={"help": "Allow tasks that execute model-written code."})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "Refused: the toolkit never runs a model repository's own code (see docs/models.md)."})
    verbosity: str | None = field(default=None, metadata={"help": "lm-eval's log level (DEBUG, INFO, WARNING, ERROR)."})
    wandb_args: list[str] | None = field(default=None, metadata={"help": "Weights & Biases init arguments, key=value.", "nargs": "+"})
    wandb_config_args: list[str] | None = field(default=None, metadata={"help": "Weights & Biases config arguments.", "nargs": "+"})
    hf_hub_log_args: list[str] | None = field(default=None, metadata={
        "help": "lm-eval's Hub logging arguments, key=value (hub_results_org, push_results_to_hub, ...).", "nargs": "+"})
    dtype: str | None = field(default=None, metadata={
        "help": "float32 (default), bfloat16, float16 or auto (the checkpoint's), as model_args dtype=."})
    reuse_prefix: bool = field(default=True, metadata={
        "help": "Compute shared token prefixes once (--no_reuse_prefix scores every context whole)."})

    def __post_init__(self):
        if self.model not in ("hf", "finetune-toolkit"):
            raise UserError(f"--model {self.model!r} is not served here: `finetune-toolkit eval` is lm-eval's hf backend on "
                            "the toolkit's scorer; use --model hf, or run lm_eval --model " + self.model + " itself")
        if self.trust_remote_code:
            raise UserError("--trust_remote_code is refused: the toolkit never runs code from a model repository; "
                            "use a model whose architecture Transformers ships")
        if self.num_fewshot is not None and self.num_fewshot < 0:
            raise UserError(f"--num_fewshot must be 0 or more, got {self.num_fewshot}")
        if self.limit is not None and self.limit <= 0:
            raise UserError(f"--limit must be above 0, got {self.limit}")
        if self.limit is not None and self.limit >= 1:
            if self.limit != int(self.limit):
                raise UserError(f"--limit is a count of documents or a fraction below 1, got {self.limit}")
            self.limit = int(self.limit)
        size = self.batch_size
        if not (size == "auto" or (size.startswith("auto:") and size[5:].isdigit()) or (size.isdigit() and int(size) > 0)):
            raise UserError(f"--batch_size must be a positive number, auto or auto:N, got {size!r}")
        if self.max_batch_size is not None and self.max_batch_size < 1:
            raise UserError(f"--max_batch_size must be 1 or more, got {self.max_batch_size}")
        if self.fewshot_as_multiturn is not None:
            value = self.fewshot_as_multiturn.lower()
            if value not in ("true", "1", "yes", "false", "0", "no"):
                raise UserError(f"--fewshot_as_multiturn takes true or false, got {self.fewshot_as_multiturn!r}")
        if self.include_path is not None and not Path(self.include_path).is_dir():
            raise UserError(f"--include_path {self.include_path!r} is not a folder; give the folder that holds the task YAMLs")
        if self.predict_only:
            self.log_samples = True
        if self.log_samples and not self.output_path:
            raise UserError("--log_samples and --predict_only need --output_path: the samples are written there")
        if self.samples is not None and self.limit is not None:
            raise UserError("give --samples or --limit, not both")
        if self.cache_requests is not None and self.cache_requests not in ("true", "refresh", "delete"):
            raise UserError(f"--cache_requests takes true, refresh or delete, got {self.cache_requests!r}")
        self.tasks = list(dict.fromkeys(name.strip() for value in self.tasks for name in value.split(",") if name.strip()))
        if not self.tasks:
            raise UserError("--tasks needs at least one task name")
        if self.model_name_or_path is not None:
            self.model_name_or_path = list(dict.fromkeys(self.model_name_or_path))

    @property
    def chat_template(self) -> bool | str:
        """lm-eval's `apply_chat_template`: False, True, or a template's name."""
        if self.apply_chat_template is None or self.apply_chat_template.lower() in ("false", "0", "no"):
            return False
        return True if self.apply_chat_template.lower() in ("true", "1", "yes") else self.apply_chat_template

    @property
    def multiturn(self) -> bool:
        """lm-eval's rule: on with a chat template unless turned off; asked for without one, refused in `resolve`."""
        if self.fewshot_as_multiturn is None:
            return bool(self.chat_template)
        return self.fewshot_as_multiturn.lower() in ("true", "1", "yes")


@dataclass
class ResolvedArguments:
    """What lm-eval's parsers made of the flags (`resolve`)."""

    models: list[str]
    model_args: dict
    gen_kwargs: dict | None
    metadata: dict
    seeds: list[int | None]
    samples: dict | None
    cache_requests: dict
    wandb_args: dict
    wandb_config_args: dict
    hf_hub_log_args: dict


def resolve(args: EvalArguments) -> ResolvedArguments:
    """Read the flags lm-eval parses with lm-eval's own parsers; every refusal is one `UserError` line."""
    from lm_eval._cli.utils import _int_or_none_list_arg_type, request_caching_arg_to_dict
    from lm_eval.utils import simple_parse_args_string

    def pairs(values: list[str] | None, flag: str) -> dict:
        if not values:
            return {}
        text = " ".join(values).strip()
        if text.startswith("{"):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as error:
                raise UserError(f"{flag}: not valid JSON ({error.msg}); give key=value pairs or a JSON object") from None
            if not isinstance(parsed, dict):
                raise UserError(f"{flag}: give key=value pairs or a JSON object")
            return parsed
        try:
            return simple_parse_args_string(",".join(value.strip(",") for value in values))
        except (ValueError, SyntaxError) as error:
            raise UserError(f"{flag}: {error}; write key=value pairs, e.g. {flag} temperature=0,max_gen_toks=64") from None

    model_args = pairs(args.model_args, "--model_args")
    if model_args.get("trust_remote_code") not in (None, False, "False", "false"):
        raise UserError("model_args trust_remote_code is refused: the toolkit never runs code from a model repository")
    model_args.pop("trust_remote_code", None)
    unknown = sorted(set(model_args) - HFLM_KEYS - LOADING_KEYS - {"parallelize", "peft", "gguf_file", "delta"})
    if unknown:
        raise UserError(f"--model_args {unknown[0]}= is not an argument of lm-eval's hf model; known: "
                        f"{', '.join(sorted(HFLM_KEYS | LOADING_KEYS))}")
    if "pretrained" in model_args and args.model_name_or_path:
        raise UserError("give the model once: --model_name_or_path or --model_args pretrained=, not both")
    models = args.model_name_or_path or ([str(model_args["pretrained"])] if "pretrained" in model_args else [])
    if not models:
        raise UserError("name a model: --model_name_or_path NAME (or lm-eval's --model_args pretrained=NAME)")
    if args.dtype is not None and "dtype" in model_args and str(model_args["dtype"]) != args.dtype:
        raise UserError(f"--dtype {args.dtype} and model_args dtype={model_args['dtype']} disagree; give one")
    gen_kwargs = pairs(args.gen_kwargs, "--gen_kwargs") or None
    check_generation_settings(gen_kwargs or {}, "--gen_kwargs")
    try:
        seeds = _int_or_none_list_arg_type(3, 4, "0,1234,1234,1234", args.seed) if args.seed else [0, 1234, 1234, 1234]
    except ValueError as error:
        raise UserError(f"--seed: {error}; give one number or four comma-separated (None leaves one unset)") from None
    samples = None
    if args.samples is not None:
        text = Path(args.samples).read_text() if Path(args.samples).is_file() else args.samples
        try:
            samples = json.loads(text)
        except json.JSONDecodeError:
            raise UserError("--samples must be JSON mapping task names to document indices, or a file holding it") from None
    if args.fewshot_as_multiturn is not None and args.multiturn and not args.chat_template:
        raise UserError("--fewshot_as_multiturn needs --apply_chat_template")
    metadata = model_args | pairs(args.metadata, "--metadata")
    return ResolvedArguments(models, model_args, gen_kwargs, metadata, seeds, samples,
                             request_caching_arg_to_dict(args.cache_requests), pairs(args.wandb_args, "--wandb_args"),
                             pairs(args.wandb_config_args, "--wandb_config_args"), pairs(args.hf_hub_log_args, "--hf_hub_log_args"))


def check_generation_settings(settings: dict, where: str) -> None:
    """Refuse, before any request runs, generation settings that would fail or silently mean something else."""
    sampling = str(settings.get("do_sample", False)).lower() in ("true", "1")
    if sampling and settings.get("temperature") is not None and float(settings["temperature"]) == 0:
        raise UserError(f"{where}: do_sample with temperature 0 is not sampling; drop do_sample for greedy decoding or "
                        "give a temperature above 0")
    if sampling and int(settings.get("num_beams", 1) or 1) > 1:
        raise UserError(f"{where}: do_sample with num_beams > 1 is beam sampling, which the toolkit does not offer; "
                        "drop one of them")
