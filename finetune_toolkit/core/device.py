"""Where this process computes, decided in one place: by Accelerate.

Training (the `Trainer`), few-shot scoring and generation all ask here, so `accelerate launch --cpu`,
`ACCELERATE_USE_CPU=1`, `--use_cpu`, `CUDA_VISIBLE_DEVICES` and a launcher's per-process device
(`LOCAL_RANK`) are respected everywhere, never overridden by a `torch.cuda.is_available()` of our own.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from accelerate import PartialState
from accelerate.utils import parse_flag_from_env
from accelerate.utils.memory import clear_device_cache, should_reduce_batch_size


def cpu_forced(use_cpu: bool = False) -> bool:
    """Whether the user or a launcher asked for the CPU although a GPU may be present."""
    return use_cpu or parse_flag_from_env("ACCELERATE_USE_CPU")


def launched_processes() -> int:
    """How many processes the launcher (`accelerate launch --multi_gpu`, `torchrun`) started, from its environment."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def join_processes() -> PartialState:
    """Set Accelerate's state up for this process, once, before anything else asks for it.

    On a machine where the work runs on the CPU, several launched processes must be joined on the CPU (gloo):
    Accelerate's `PartialState()` and the `Trainer`'s arguments join them only when told the CPU is meant
    (`ACCELERATE_USE_CPU`), and without it every process would believe it is alone and do all the work. So that is
    said here, for this process and the `Trainer` alike. With a GPU, Accelerate's own choice stands.
    """
    if launched_processes() > 1 and not cuda_usable():
        os.environ["ACCELERATE_USE_CPU"] = "true"
    return PartialState(cpu=cpu_forced())


def execution_device() -> torch.device:
    """The device this process computes on: Accelerate's `PartialState().device`.

    When the `Trainer`'s arguments have already set Accelerate's state up (they do in their
    `__post_init__`), this returns the device they chose; otherwise it sets the state up the same way a
    launcher would, respecting `ACCELERATE_USE_CPU`.
    """
    return join_processes().device


def cuda_usable(use_cpu: bool = False) -> bool:
    """Whether work will run on a CUDA GPU, checked without setting up Accelerate's state.

    Used to validate flags (`--bf16`, `--fp16`, FlashAttention) before the `Trainer`'s arguments have
    chosen the device; it agrees with `execution_device()`.
    """
    return torch.cuda.is_available() and not cpu_forced(use_cpu)


def run_in_batches(items: list, rows: int, work: Callable[[list], None], shrink: bool) -> tuple[int, int]:
    """Call `work` on consecutive slices of `items`, `rows` at a time.

    With `shrink` (an automatic batch size), a slice that runs out of memory is retried at half the rows,
    and so is every later slice: Accelerate's `find_executable_batch_size` without starting over. A batch
    size the user chose (`shrink=False`) is never changed; its out-of-memory error goes up as it came.
    Returns `(rows, largest)`: the rows a slice may have now and the largest slice that ran.
    """
    start, largest = 0, 0
    while start < len(items):
        batch = items[start : start + rows]
        try:
            work(batch)
        except Exception as error:
            if not shrink or rows == 1 or not should_reduce_batch_size(error):
                raise
            clear_device_cache(garbage_collection=True)
            rows //= 2
            continue
        largest = max(largest, len(batch))
        start += len(batch)
    return rows, largest


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """One host-to-device copy; from pinned memory and asynchronous when the target is a CUDA GPU."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def map_across_processes(work: Callable[[list], list], items: list, pad: bool = False) -> list:
    """`work(items)` (a list of results, one per item), with the items shared out between the processes
    `accelerate launch` started, a contiguous share each, and the results gathered back in item order on every
    process. One process: plain `work(items)`. With `pad` (sharded weights, where every process must take the same
    number of steps) each share is equally long, padded with repeats that are dropped after gathering."""
    from accelerate.utils import gather_object

    state = PartialState()
    if state.num_processes == 1:
        return work(items)
    indices = list(range(len(items)))
    with state.split_between_processes(indices, apply_padding=pad) as mine:
        results = work([items[i] for i in mine]) if mine else []
    by_index = {}
    for shard_indices, shard_results in gather_object([(mine, results)]):
        for index, result in zip(shard_indices, shard_results):
            by_index.setdefault(index, result)
    return [by_index[i] for i in indices]
