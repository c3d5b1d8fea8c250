"""Generate text with any causal LM: prompts from flags or a file, batched, greedy/beam/sampling.

    finetune-toolkit generate --model_name_or_path gpt2 --prompt "Once upon a time" --max_new_tokens 40
    finetune-toolkit generate --model_name_or_path packaged:SmolLM2-135M-Instruct --chat \
        --prompt "What is the capital of France?" --stream
    finetune-toolkit generate --model_name_or_path out/gpt2-mine --prompts_file prompts.jsonl \
        --do_sample --top_p 0.9 --seed 0 --num_return_sequences 3 --output_file samples.jsonl

Without --output_file the answers go to stdout as plain text; with it, JSON lines (prompt, generated_text).
With --reference_column (a .jsonl prompts file whose rows also hold a reference answer) the answers are scored, as
any model can be, a base model 0-shot, a few-shot prompt or a fine-tuned one, on the same test file: ROUGE-1/2/L/Lsum,
BLEU, chrF, exact match, mean generated tokens and generation tokens/s, printed and written as JSON beside
--output_file (`<output_file stem>.scores.json`).

    finetune-toolkit generate --model_name_or_path out/gpt2-mine --prompts_file test.jsonl \
        --reference_column completion --stop "\n" --output_file predictions.jsonl
"""

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from finetune_toolkit.core.generation import GenerationArguments, generate, score_generated
from finetune_toolkit.core.causal_lm import load_generator
from finetune_toolkit.core.command_line import format_table, parse_args
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.jsonio import JSONTooDeep, loads_bounded
from finetune_toolkit.core.metrics import load_generation_metric
from finetune_toolkit.core.models import ModelArguments
from finetune_toolkit.core.outputs import atomic_write_json, atomic_write_jsonl
from finetune_toolkit.report.arguments import ReportArguments, report_at_end


@dataclass
class IOArguments:
    prompt: list[str] = field(default_factory=list, metadata={"help": "A prompt (may repeat).", "action": "extend"})
    prompts_file: str | None = field(
        default=None, metadata={"help": "Prompts, one per line (.txt) or JSON lines with a 'prompt' field (.jsonl)."}
    )
    output_file: str | None = field(default=None, metadata={"help": "Write JSON lines (prompt, generated_text) here."})
    reference_column: str | None = field(
        default=None, metadata={"help": "With a .jsonl --prompts_file: the field holding each prompt's reference; score the answers."})
    stream: bool = field(default=False, metadata={"help": "Print tokens as they are generated (one prompt)."})
    dtype: str | None = field(default=None, metadata={"help": "float32 (default), bfloat16 or float16 (GPU only)."})


def read_prompts(io: IOArguments) -> tuple[list[str], list[str] | None]:
    """Prompts from --prompt flags and --prompts_file, in that order, and with --reference_column their references."""
    prompts, references = list(io.prompt), None
    if io.reference_column is not None:
        if io.prompt or not io.prompts_file or not io.prompts_file.lower().endswith(".jsonl"):
            raise UserError("--reference_column scores answers against a .jsonl --prompts_file whose rows hold the references; "
                            "give one and no --prompt")
        references = []
    if io.prompts_file:
        path = Path(io.prompts_file)
        if not path.is_file():
            raise UserError(f"prompts file {io.prompts_file!r} does not exist; check the path")
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError:
            raise UserError(f"prompts file {io.prompts_file!r} is not UTF-8; re-save it as UTF-8") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if path.suffix.lower() != ".jsonl":
                prompts.append(line)
                continue
            record = _json_line(io.prompts_file, number, line)
            prompts.append(record["prompt"])
            if references is not None:
                reference = record.get(io.reference_column)
                if not isinstance(reference, str) or not reference.strip():
                    raise UserError(f"{io.prompts_file!r} line {number} has no text {io.reference_column!r} field (or an empty one); "
                                    "every prompt needs its reference, or pass another --reference_column")
                references.append(reference)
    if not prompts:
        raise UserError("no prompts; pass --prompt TEXT or --prompts_file FILE")
    return prompts, references


def _json_line(source: str, number: int, line: str) -> dict:
    try:
        record = loads_bounded(line)
    except JSONTooDeep as error:
        raise UserError(f"{source!r} line {number} {error}; one object per line with a 'prompt' field") from None
    except json.JSONDecodeError:
        raise UserError(f"{source!r} line {number} is not JSON; one object per line with a 'prompt' field") from None
    if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
        raise UserError(f"{source!r} line {number} has no text 'prompt' field")
    return record


def main(argv=None) -> list[list[str]]:
    model_args, io, generation_args, report = parse_args((ModelArguments, IOArguments, GenerationArguments, ReportArguments), argv)
    prompts, references = read_prompts(io)
    if references is not None and (not io.output_file or generation_args.num_return_sequences > 1 or io.stream):
        raise UserError("--reference_column scores one answer per prompt and writes the scores beside --output_file; "
                        "give --output_file, and no --num_return_sequences or --stream")
    if references is not None:
        load_generation_metric()  # refuse a missing scorer before anything is generated or written
    if io.stream and (len(prompts) > 1 or generation_args.num_beams > 1 or generation_args.num_return_sequences > 1):
        raise UserError("--stream shows one answer as it is generated: use it with one prompt, --num_beams 1 and one sequence")
    if io.output_file and Path(io.output_file).exists() and Path(io.output_file).is_dir():
        raise UserError(f"--output_file {io.output_file!r} is a directory; give a file path")
    model, tokenizer = load_generator(model_args, io.dtype)
    streamer = None
    if io.stream:
        from transformers import TextStreamer

        streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    start = time.perf_counter()
    answers = generate(model, tokenizer, prompts, generation_args, streamer=streamer)
    seconds = time.perf_counter() - start
    if io.output_file:
        rows = [{"prompt": p, "generated_text": text} for p, texts in zip(prompts, answers) for text in texts]
        if references is not None:
            for row, reference in zip(rows, references):
                row["reference"] = reference
        atomic_write_jsonl(io.output_file, rows)
        print(f"Wrote {len(rows)} answers to {io.output_file}", file=sys.stderr)
        if references is not None:
            scores = score_generated(tokenizer, [texts[0] for texts in answers], references, seconds) | {"samples": len(answers)}
            scores_file = Path(io.output_file).with_suffix(".scores.json")
            atomic_write_json(scores_file, scores)
            print(format_table([scores], list(scores)))
            print(f"Scores written to {scores_file}", file=sys.stderr)
            report_at_end(scores_file.parent, report)
    elif not io.stream:
        for prompt, texts in zip(prompts, answers):
            for text in texts:
                print(f"{prompt}{text}" if not generation_args.chat else text)
                print()
    return answers

