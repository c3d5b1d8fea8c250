#!/usr/bin/env python
"""Run every script against a generated corpus of broken files and arguments; count how each case ends.

    python benchmarks/bad_input_census.py [--output benchmarks/results/bad_input_census.json] [--workers 2]

Outcomes: `clean_errors` (exit 2, one "error:" line, no traceback, nothing left in the output directory),
`loaded_fine` (exit 0: the input was valid after all), `tracebacks`, `hangs` (over `--timeout` seconds) and
`partial_outputs` (a failed case that left files in its output directory). Targets: 0 for the last three.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from finetune.data import movie_review_files
from finetune.scratch import build_gpt2
from finetune_toolkit.core.command_line import parse_args, run_script
from finetune_toolkit.core.outputs import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]

BROKEN_FILES = {
    "empty": b"",
    "bom_only": b"\xef\xbb\xbf",
    "crlf_blank": b"\r\n\r\n",
    "nul_bytes": b"\x00\x00\x00text\x00",
    "latin1": "text,label\ncaf\xe9,1\n".encode("latin-1"),
    "binary": bytes(range(256)),
    "bad_json": b'{"text": "a", "label": ',
    "json_array_of_ints": b"[1, 2, 3]",
    "wrong_types": b'{"text": 5, "label": "x"}\n{"text": null, "label": [1]}\n',
    "missing_label": b'{"text": "a fine film"}\n{"text": "dull"}\n',
    "empty_text": b'{"text": "", "label": 1}\n{"text": "ok", "label": 0}\n',
    "huge_field": b'{"text": "' + b"a" * 2_000_000 + b'", "label": 1}\n{"text": "b", "label": 0}\n',
    "control_chars": '{"text": "\\u0007\\u001b[31mred\\u0000", "label": 1}\n{"text": "b", "label": 0}\n'.encode(),
    "ragged_csv": b"text,label\na,1,extra,more\nb\n",
    "duplicated_columns": b"text,text,label\na,b,1\nc,d,0\n",
    "csv_bom_crlf": b"\xef\xbb\xbftext,label\r\nfine,1\r\ndull,0\r\n",
    "one_class": b'{"text": "good", "label": 1}\n{"text": "great", "label": 1}\n',
    "labels_out_of_range": b'{"text": "good", "label": 7}\n{"text": "bad", "label": -1}\n',
    "unicode_mess": '{"text": "\\ud83d\\ude00 \\u202e rtl \\ufeff", "label": 1}\n{"text": "b", "label": 0}\n'.encode(),
    "deep_json": b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b', "label": 1}\n',
}
SUFFIXES = (".jsonl", ".csv", ".json", ".tsv", ".parquet", ".txt")


@dataclass
class CensusArguments:
    output: str = field(default="benchmarks/results/bad_input_census.json", metadata={"help": "Where the JSON counts go."})
    workers: int = field(default=2, metadata={"help": "Cases run at once."})
    timeout: int = field(default=180, metadata={"help": "Seconds after which a case counts as a hang."})


def broken_folders(scratch: Path, gpt2: str) -> dict[str, str]:
    """Copies of the model folder with one file cut or missing, an adapter folder saved halfway, and checkpoints
    with a cut weights or optimizer file."""
    import shutil

    folders = {}

    def copy(name: str) -> Path:
        target = scratch / "folders" / name
        shutil.copytree(gpt2, target)
        folders[name] = str(target)
        return target

    def cut(path: Path, keep: float = 0.5) -> None:
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])

    cut(copy("weights_cut") / "model.safetensors")
    (copy("weights_header_cut") / "model.safetensors").write_bytes(b"\x10\x00")
    cut(copy("tokenizer_json_cut") / "tokenizer.json")
    (copy("config_empty") / "config.json").write_text("")
    (copy("weights_missing") / "model.safetensors").unlink()
    adapter = scratch / "folders" / "adapter_half_written"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": gpt2, "peft_type": "LORA",
                                                             "task_type": "CAUSAL_LM", "r": 4, "target_modules": ["c_attn"]}))
    folders["adapter_half_written"] = str(adapter)
    for name, victim in (("checkpoint_weights_cut", "model.safetensors"), ("checkpoint_optimizer_cut", "optimizer.pt")):
        checkpoint = copy(name)
        (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 1}))
        import torch

        torch.save({"python": 0}, checkpoint / "rng_state.pth")
        torch.save({"state": {}}, checkpoint / "optimizer.pt")
        cut(checkpoint / victim)
    return folders


def cases(scratch: Path, gpt2: str) -> list[tuple[str, list[str]]]:
    files = movie_review_files()
    corpus = []
    for (name, content), suffix in itertools.product(BROKEN_FILES.items(), SUFFIXES[:4]):
        path = scratch / "files" / f"{name}{suffix}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        corpus.append((f"{name}{suffix}", str(path)))
    out = []
    for label, path in corpus:  # every broken file through every script that reads data
        out.append((f"classifier train={label}", ["finetune_classifier.py", "--model_name_or_path", gpt2, "--train_file", path,
                                                  "--do_train", "--max_steps", "1", "--report_to", "none"]))
        out.append((f"fewshot validation={label}", ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", path,
                                                    "--train_file", files["train"], "--shots", "1", "--max_eval_samples", "4"]))
    for label, path in corpus[::4]:
        out.append((f"lm train={label}", ["finetune_lm.py", "--model_name_or_path", gpt2, "--train_file", path,
                                          "--do_train", "--max_steps", "1", "--report_to", "none", "--block_size", "16"]))
        out.append((f"generate prompts={label}", ["generate.py", "--model_name_or_path", gpt2, "--prompts_file", path,
                                                  "--max_new_tokens", "2"]))
        out.append((f"fewshot template={label}", ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"],
                                                  "--template", path.replace(Path(path).suffix, ".yaml"), "--shots", "0"]))
        Path(path.replace(Path(path).suffix, ".yaml")).write_bytes(Path(path).read_bytes())
    bad_arguments = [
        ["finetune_classifier.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--learning_rate", "fast"],
        ["finetune_classifier.py", "--model_name_or_path", gpt2, "--do_train"],
        ["finetune_classifier.py", "--model_name_or_path", "/nonexistent/model", "--train_file", files["train"], "--do_train"],
        ["finetune_classifier.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--epochs", "3"],
        ["finetune_classifier.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--fp16"],
        ["finetune_classifier.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--text_column", "nope"],
        ["finetune_lm.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--block_size", "-3"],
        ["finetune_lm.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--block_size", "100000"],
        ["generate.py", "--model_name_or_path", gpt2, "--prompt", "hi", "--temperature", "0"],
        ["generate.py", "--model_name_or_path", gpt2, "--prompt", "hi", "--max_new_tokens", "0"],
        ["generate.py", "--model_name_or_path", gpt2, "--prompt", "hi", "--top_p", "2", "--do_sample"],
        ["generate.py", "--model_name_or_path", gpt2, "--prompt", "hi", "--chat"],
        ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"], "--shots", "-1"],
        ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"], "--train_file", files["train"], "--shots", "100000"],
        ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"], "--selection", "smart"],
        ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"], "--template", "sentimnet"],
        ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"], "--mode", "generate", "--calibrate"],
        ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"], "--text_columns", "a", "b"],
        ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"], "--label_column", "stars"],
        ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"], "--dtype", "float16"],
        ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"], "--num_seeds", "0"],
        ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"], "--batch_size", "0"],
        ["fewshot.py", "--model_name_or_path", gpt2, "--validation_file", files["test"], "--attn_implementation", "flash_attention_2"],
        ["finetune_lm.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--use_peft", "--peft_type", "ia3"],
        ["finetune_lm.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--use_peft", "--lora_r", "0"],
        ["finetune_lm.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--use_peft",
         "--lora_target_modules", "q_proj"],
        ["finetune_lm.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--use_peft", "--load_in_4bit"],
        ["finetune_lm.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--use_peft",
         "--peft_type", "prompt_tuning", "--packing"],
        ["finetune_lm.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--completion_only_loss", "true"],
        ["finetune_classifier.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--do_train", "--use_peft",
         "--peft_type", "prompt_tuning"],
        ["compare_adaptation.py", "--model_name_or_path", gpt2, "--train_file", files["train"], "--validation_file", files["test"],
         "--output_dir", "x", "--methods", "prefix"],
        ["reproduce_sentiment.py", "--preset", "roberta-sentiment"],
        ["demo.py", "--parts", "dance"],
    ]
    out += [(f"arguments {' '.join(a[0:1] + a[3:])[:60]}", a) for a in bad_arguments]
    for name, folder in broken_folders(scratch, gpt2).items():
        if name.startswith("checkpoint"):
            out.append((f"lm resume={name}", ["finetune_lm.py", "--model_name_or_path", gpt2, "--train_file", files["train"],
                                              "--do_train", "--max_steps", "2", "--block_size", "16", "--report_to", "none",
                                              "--resume_from_checkpoint", folder]))
            continue
        out.append((f"generate model={name}", ["generate.py", "--model_name_or_path", folder, "--prompt", "hi", "--max_new_tokens", "2"]))
        out.append((f"fewshot model={name}", ["fewshot.py", "--model_name_or_path", folder, "--validation_file", files["test"],
                                              "--shots", "0", "--max_eval_samples", "4"]))
    for name, text in (("yaml_syntax", "learning_rate: [1,\n"), ("yaml_list", "- a\n- b\n"), ("yaml_wrong_type", "learning_rate: fast\n"),
                       ("yaml_unknown_key", "lerning_rate: 0.1\n")):
        config = scratch / "configs" / f"{name}.yaml"
        config.parent.mkdir(exist_ok=True)
        config.write_text(f"model_name_or_path: {gpt2}\ntrain_file: {files['train']}\ndo_train: true\n"
                          f"output_dir: {scratch / 'outputs' / name}\n" + text if name != "yaml_list" else text)
        out.append((f"classifier config={name}", ["finetune_classifier.py", str(config)]))
    return out


def run_case(index: int, name: str, argv: list[str], scratch: Path, timeout: int) -> dict:
    output_dir = scratch / "outputs" / f"case-{index}"
    command = [sys.executable, str(ROOT / "scripts" / argv[0]), *argv[1:]]
    if len(argv) == 2 and argv[1].endswith(".yaml"):
        pass  # a config file stands for every flag
    elif argv[0] == "generate.py":
        command += ["--output_file", str(output_dir / "generations.jsonl")]
    elif argv[0] not in ("demo.py", "reproduce_sentiment.py"):
        command += ["--output_dir", str(output_dir)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=scratch,
                                env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(Path.home())})
    except subprocess.TimeoutExpired:
        return {"case": name, "outcome": "hang"}
    stderr = result.stderr.strip().splitlines()
    left = output_dir.exists() and any(output_dir.rglob("*"))
    if "Traceback" in result.stderr:
        outcome = "traceback"
    elif result.returncode == 0:
        outcome = "loaded_fine"
    elif result.returncode == 2 and stderr and stderr[-1].startswith("error: "):
        outcome = "partial_output" if left else "clean_error"
    else:
        outcome = "traceback"  # any other ending is a crash from the user's point of view
    return {"case": name, "outcome": outcome, "exit": result.returncode, "last_line": stderr[-1][:200] if stderr else ""}


def main(argv=None) -> dict:
    (args,) = parse_args((CensusArguments,), argv)
    with tempfile.TemporaryDirectory(prefix="census-") as scratch:
        scratch = Path(scratch)
        texts = [json.loads(line)["text"] for line in Path(movie_review_files()["train"]).read_text().splitlines()]
        gpt2 = build_gpt2(scratch / "gpt2", texts, vocab_size=300, n_embd=32, n_layer=1, n_head=2)
        corpus = cases(scratch, gpt2)
        print(f"{len(corpus)} cases")
        with ThreadPoolExecutor(args.workers) as pool:
            results = list(pool.map(lambda item: run_case(item[0], *item[1], scratch, args.timeout), enumerate(corpus)))
    counts = {key: sum(r["outcome"] == outcome for r in results) for key, outcome in
              (("clean_errors", "clean_error"), ("loaded_fine", "loaded_fine"), ("tracebacks", "traceback"),
               ("hangs", "hang"), ("partial_outputs", "partial_output"))}
    figures = {"cases": len(results), **counts, "failures": [r for r in results if r["outcome"] in ("traceback", "hang", "partial_output")]}
    for failure in figures["failures"]:
        print(f"  {failure['outcome']}: {failure['case']}: {failure.get('last_line', '')}")
    print(json.dumps(counts))
    atomic_write_json(args.output, figures)
    return figures


if __name__ == "__main__":
    run_script(main)
