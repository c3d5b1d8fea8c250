"""Where this process computes, decided in one place: by Accelerate.

Training (the `Trainer`), few-shot scoring and generation all ask here, so `accelerate launch --cpu`,
`ACCELERATE_USE_CPU=1`, `--use_cpu`, `CUDA_VISIBLE_DEVICES` and a launcher's per-process device
(`LOCAL_RANK`) are respected everywhere, never overridden by a `torch.cuda.is_available()` of our own.
"""

from __future__ import annotations

import torch


def cpu_forced(use_cpu: bool = False) -> bool:
    """Whether the user or a launcher asked for the CPU although a GPU may be present."""
    from accelerate.utils import parse_flag_from_env

    return use_cpu or parse_flag_from_env("ACCELERATE_USE_CPU")


def execution_device() -> torch.device:
    """The device this process computes on: Accelerate's `PartialState().device`.

    When the `Trainer`'s arguments have already set Accelerate's state up (they do in their
    `__post_init__`), this returns the device they chose; otherwise it sets the state up the same way a
    launcher would, respecting `ACCELERATE_USE_CPU`.
    """
    from accelerate import PartialState

    return PartialState(cpu=cpu_forced()).device


def cuda_usable(use_cpu: bool = False) -> bool:
    """Whether work will run on a CUDA GPU, checked without setting up Accelerate's state.

    Used to validate flags (`--bf16`, `--fp16`, FlashAttention) before the `Trainer`'s arguments have
    chosen the device; it agrees with `execution_device()`.
    """
    return torch.cuda.is_available() and not cpu_forced(use_cpu)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` says the accelerator (or the host) ran out of memory for a batch."""
    from accelerate.utils.memory import should_reduce_batch_size

    return isinstance(error, torch.OutOfMemoryError) or should_reduce_batch_size(error)


def release_memory() -> None:
    """Give cached accelerator memory back after an out-of-memory error, before a smaller retry."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """One host-to-device copy; from pinned memory and asynchronous when the target is a CUDA GPU."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
