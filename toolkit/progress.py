"""Progress that reads well where it goes: a bar at a terminal, plain lines in a log file.

Outside a terminal (a batch job, `nohup`, output redirected to a file) a bar becomes hundreds of half-lines, and
turned off it says nothing for as long as the work lasts. `progress(...)` gives a tqdm bar when stderr is a terminal
and otherwise a `LogLines`, which prints one plain line at least every 10% of the work or every minute: counts, the
rate, the time left, and whatever the caller adds (the loss, for training). `ProgressLogCallback` does the same for
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
    """A progress counter that prints a plain line at least every `fraction` of `total`, or every `seconds`,
    whichever comes first, and one at the end. The tqdm methods the toolkit uses (`update`, `close`) work the same."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", initial: int = 0, fraction: float = 0.1,
                 seconds: float = 60.0, stream: TextIO | None = None):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.fraction, self.seconds, self.stream = fraction, seconds, stream or sys.stderr
        self.start = self.last_time = time.monotonic()
        self.started_at, self.next_mark = initial, self._mark_after(initial)
        self.fields: dict[str, str] = {}
        self.printed, self.closed = initial, False

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
        if self.n >= self.next_mark or now - self.last_time >= self.seconds:
            self.print_line(now)

    def print_line(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        elapsed = max(now - self.start, 1e-9)
        done = self.n - self.started_at
        rate = done / elapsed
        parts = [f"{self.desc}: {self.n}" + (f"/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)" if self.total else f" {self.unit}")]
        parts += [f"{key} {value}" for key, value in self.fields.items()]
        parts.append(f"{rate:.3g} {self.unit}/s")
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"about {_duration((self.total - self.n) / rate)} left")
        parts.append(f"{_duration(elapsed)} so far" if self.total and self.n < self.total else f"took {_duration(elapsed)}")
        print(", ".join(parts), file=self.stream, flush=True)
        self.last_time, self.next_mark, self.printed = now, self._mark_after(self.n), self.n

    def close(self) -> None:
        """Print the last count, unless the last line already showed it."""
        if not self.closed and self.n != self.printed:
            self.print_line()
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
    loss, steps per second and the time left, at least every 10% of the steps or every minute."""

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
