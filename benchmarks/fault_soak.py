#!/usr/bin/env python
"""Kill fine-tuning at random moments, rerun the same command, and count runs that end exactly as an uninterrupted one.

    python benchmarks/fault_soak.py [--runs 20] [--seed 0] [--output benchmarks/results/fault_soak.json]

The job: a 4-layer GPT-2 built from a config, fine-tuned on the shipped movie reviews for `--max_steps`
with a checkpoint every 4 steps. Each run starts the job, sends SIGKILL at a random moment between the
first checkpoint and the end of training (sometimes in the middle of writing a checkpoint), reruns the same
command, and compares the final weights (bitwise) and evaluation loss with the uninterrupted reference.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from safetensors.torch import load_file

from finetune.data import movie_review_files
from finetune.scratch import build_gpt2
from finetune_toolkit.core.command_line import parse_args, run_script
from finetune_toolkit.core.outputs import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SoakArguments:
    runs: int = field(default=20, metadata={"help": "How many killed-and-resumed runs."})
    seed: int = field(default=0, metadata={"help": "Seed for the kill moments."})
    max_steps: int = field(default=120, metadata={"help": "Training steps per run."})
    output: str = field(default="benchmarks/results/fault_soak.json", metadata={"help": "Where the JSON figures go."})


def command(model: str, output_dir: Path, max_steps: int) -> list[str]:
    files = movie_review_files()
    return [sys.executable, str(ROOT / "scripts" / "finetune_lm.py"), "--model_name_or_path", model,
            "--train_file", files["train"], "--validation_file", files["test"], "--block_size", "32",
            "--do_train", "--do_eval", "--output_dir", str(output_dir), "--max_steps", str(max_steps), "--save_steps", "4",
            "--per_device_train_batch_size", "8", "--learning_rate", "1e-3", "--report_to", "none",
            "--disable_tqdm", "true", "--seed", "0", "--logging_steps", "1000"]


def run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])


def same(reference: Path, candidate: Path) -> bool:
    if not (candidate / "all_results.json").exists():
        return False
    expected, got = load_file(str(reference / "model.safetensors")), load_file(str(candidate / "model.safetensors"))
    weights = expected.keys() == got.keys() and all(expected[k].equal(got[k]) for k in expected)
    loss = json.loads((reference / "all_results.json").read_text())["eval_loss"] == json.loads(
        (candidate / "all_results.json").read_text())["eval_loss"]
    return weights and loss


def main(argv=None) -> dict:
    (args,) = parse_args((SoakArguments,), argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="fault-soak-") as scratch:
        scratch = Path(scratch)
        texts = [json.loads(line)["text"] for line in Path(movie_review_files()["train"]).read_text().splitlines()]
        model = build_gpt2(scratch / "gpt2", texts, vocab_size=500, n_embd=64, n_layer=4, n_head=4)
        reference = scratch / "reference"
        start = time.perf_counter()
        run(command(model, reference, args.max_steps))
        print(f"uninterrupted reference: {time.perf_counter() - start:.1f} s")
        matched, killed_at = 0, []
        for index in range(args.runs):
            output_dir = scratch / f"run-{index}"
            job = command(model, output_dir, args.max_steps)
            process = subprocess.Popen(job, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = rng.randrange(4, args.max_steps, 4)
            while not (output_dir / f"checkpoint-{target}").exists() and process.poll() is None:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
            process.send_signal(signal.SIGKILL)
            process.wait()
            steps = sorted(int(p.name.split("-")[1]) for p in output_dir.glob("checkpoint-*"))
            killed_at.append(steps[-1] if steps else 0)
            if (output_dir / "all_results.json").exists():
                print(f"run {index + 1}: the job finished before the kill; not counted as a resume")
            else:
                run(job)
            ok = same(reference, output_dir)
            matched += ok
            print(f"run {index + 1}/{args.runs}: killed near step {killed_at[-1]}, resumed result "
                  f"{'matches' if ok else 'DIFFERS'}")
    figures = {"runs": args.runs, "matched": matched, "killed_near_steps": killed_at, "max_steps": args.max_steps}
    print(f"{matched} of {args.runs} resumed runs matched the uninterrupted result (bitwise weights, same eval loss)")
    atomic_write_json(args.output, figures)
    return figures


if __name__ == "__main__":
    run_script(main)
