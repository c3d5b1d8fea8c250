"""Progress that reads well where it goes: a bar at a terminal, plain lines in a log file.

Outside a terminal (a batch job, `nohup`, output redirected to a file) a bar becomes hundreds of half-lines, and
turned off it says nothing for as long as the work lasts. `progress(...)` gives a tqdm bar when stderr is a terminal
and otherwise a `LogLines`, which prints a plain line when at least 10% more of the work is done and some seconds have
passed since the last line, or when a minute has passed, and always a final `took ...` line: counts, the rate, the
time left, and whatever the caller adds (the loss, for training). Short work prints one line; long work keeps its
regular lines. `ProgressLogCallback` does the same for
the `Trainer`, whose own bars are off outside a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm.auto import tqdm
from transformers import TrainerCallback


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class LogLines:
    """A progress counter for log files. It prints a plain line when another `fraction` of `total` is done and at
    least `min_seconds` have passed since the last line, or when `seconds` have passed whatever the count, and always
    one final line on `close`. The tqdm methods the toolkit uses (`update`, `close`) work the same."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", initial: int = 0, fraction: float = 0.1,
                 seconds: float = 60.0, min_seconds: float = 5.0, stream: TextIO | None = None):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.fraction, self.seconds, self.min_seconds, self.stream = fraction, seconds, min_seconds, stream or sys.stderr
        self.start = self.last_time = time.monotonic()
        self.started_at, self.next_mark = initial, self._mark_after(initial)
        self.fields: dict[str, str] = {}
        self.closed, self.finished = False, False

    def _mark_after(self, count: int) -> float:
        if not self.total:
            return float("inf")
        step = max(1.0, self.total * self.fraction)
        return (count // step + 1) * step

    def set_fields(self, **fields) -> None:
        """Values to show on the next lines (e.g. `loss="0.412"`)."""
        self.fields.update({key: str(value) for key, value in fields.items()})

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        since_last = now - self.last_time
        if (self.n >= self.next_mark and since_last >= self.min_seconds) or since_last >= self.seconds:
            self.print_line(now)

    def print_line(self, now: float | None = None, final: bool = False) -> None:
        now = time.monotonic() if now is None else now
        elapsed = max(now - self.start, 1e-9)
        done = self.n - self.started_at
        rate = done / elapsed
        parts = [f"{self.desc}: {self.n}" + (f"/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)" if self.total else f" {self.unit}")]
        parts += [f"{key} {value}" for key, value in self.fields.items()]
        parts.append(f"{rate:.3g} {self.unit}/s")
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"about {_duration((self.total - self.n) / rate)} left")
        self.finished = final or not self.total or self.n >= self.total
        parts.append(f"took {_duration(elapsed)}" if self.finished else f"{_duration(elapsed)} so far")
        print(", ".join(parts), file=self.stream, flush=True)
        self.last_time, self.next_mark = now, self._mark_after(self.n)

    def close(self) -> None:
        """Print the final `took ...` line, unless the last line was already the final one."""
        if not self.closed and not self.finished:
            self.print_line(final=True)
        self.closed = True


def progress(total: int | None, desc: str, unit: str = "it", initial: int = 0, enabled: bool = True, leave: bool = False):
    """A tqdm bar at a terminal, `LogLines` in a log file, nothing when not `enabled` (another process reports)."""
    if not enabled:
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=leave)
    return LogLines(total, desc, unit, initial)


class ProgressLogCallback(TrainerCallback):
    """Plain progress lines for training outside a terminal (the `Trainer`'s bar is off there): steps, the latest
    loss, steps per second and the time left, by the rule of `LogLines`."""

    def __init__(self, stream: TextIO | None = None):
        self.stream, self.lines = stream, None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.lines = LogLines(state.max_steps, "training", "steps", initial=state.global_step, stream=self.stream)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.lines is not None and logs and "loss" in logs:
            self.lines.set_fields(loss=f"{float(logs['loss']):.4g}")

    def on_step_end(self, args, state, control, **kwargs):
        if self.lines is not None:
            self.lines.update(state.global_step - self.lines.n)

    def on_train_end(self, args, state, control, **kwargs):
        if self.lines is not None:
            self.lines.close()
            self.lines = None
