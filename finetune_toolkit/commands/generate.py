"""Generate text with any causal LM: prompts from flags or a file, batched, greedy/beam/sampling.

    finetune-toolkit generate --model_name_or_path gpt2 --prompt "Once upon a time" --max_new_tokens 40
    finetune-toolkit generate --model_name_or_path packaged:SmolLM2-135M-Instruct --chat \
        --prompt "What is the capital of France?" --stream
    finetune-toolkit generate --model_name_or_path out/gpt2-mine --prompts_file prompts.jsonl \
        --do_sample --top_p 0.9 --seed 0 --num_return_sequences 3 --output_file samples.jsonl

Without --output_file the answers go to stdout as plain text; with it, JSON lines (prompt, generated_text).
"""

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.generation import GenerationArguments, generate
from toolkit.causal_lm import load_generator
from toolkit.cli import parse_args
from toolkit.errors import UserError
from toolkit.jsonio import JSONTooDeep, loads_bounded
from toolkit.models import ModelArguments
from toolkit.outputs import atomic_write_jsonl


@dataclass
class IOArguments:
    prompt: list[str] = field(default_factory=list, metadata={"help": "A prompt (may repeat).", "action": "extend"})
    prompts_file: str | None = field(
        default=None, metadata={"help": "Prompts, one per line (.txt) or JSON lines with a 'prompt' field (.jsonl)."}
    )
    output_file: str | None = field(default=None, metadata={"help": "Write JSON lines (prompt, generated_text) here."})
    stream: bool = field(default=False, metadata={"help": "Print tokens as they are generated (one prompt)."})
    dtype: str | None = field(default=None, metadata={"help": "float32 (default), bfloat16 or float16 (GPU only)."})


def read_prompts(io: IOArguments) -> list[str]:
    """Prompts from --prompt flags and --prompts_file, in that order."""
    prompts = list(io.prompt)
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
            if path.suffix.lower() == ".jsonl":
                try:
                    record = loads_bounded(line)
                except JSONTooDeep as error:
                    raise UserError(f"{io.prompts_file!r} line {number} {error}; one object per line with a 'prompt' field") from None
                except json.JSONDecodeError:
                    raise UserError(f"{io.prompts_file!r} line {number} is not JSON; one object per line with a 'prompt' field") from None
                if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
                    raise UserError(f"{io.prompts_file!r} line {number} has no text 'prompt' field")
                prompts.append(record["prompt"])
            else:
                prompts.append(line)
    if not prompts:
        raise UserError("no prompts; pass --prompt TEXT or --prompts_file FILE")
    return prompts


def main(argv=None) -> list[list[str]]:
    model_args, io, generation_args = parse_args((ModelArguments, IOArguments, GenerationArguments), argv)
    prompts = read_prompts(io)
    if io.stream and (len(prompts) > 1 or generation_args.num_beams > 1 or generation_args.num_return_sequences > 1):
        raise UserError("--stream shows one answer as it is generated: use it with one prompt, --num_beams 1 and one sequence")
    if io.output_file and Path(io.output_file).exists() and Path(io.output_file).is_dir():
        raise UserError(f"--output_file {io.output_file!r} is a directory; give a file path")
    model, tokenizer = load_generator(model_args, io.dtype)
    streamer = None
    if io.stream:
        from transformers import TextStreamer

        streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    answers = generate(model, tokenizer, prompts, generation_args, streamer=streamer)
    if io.output_file:
        rows = [{"prompt": p, "generated_text": text} for p, texts in zip(prompts, answers) for text in texts]
        atomic_write_jsonl(io.output_file, rows)
        print(f"Wrote {len(rows)} answers to {io.output_file}", file=sys.stderr)
    elif not io.stream:
        for prompt, texts in zip(prompts, answers):
            for text in texts:
                print(f"{prompt}{text}" if not generation_args.chat else text)
                print()
    return answers

