"""Progress of long work, for a person at a terminal and for a batch job's log alike.

On a terminal: a rich bar with counts, elapsed time and ETA. When stderr is not a terminal (a Slurm job, ``| tee``,
a log file): one plain line when a stage starts, then one every ``TUNESHIFT_PROGRESS_SECONDS`` (default 30) and
one when it ends — ``stage: done/total (pct), elapsed, ETA`` — so a log shows that work is moving and how long is left.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class Tracker:
    """Counts work done in one stage; ``advance(n)`` after each piece."""

    def __init__(self, stage: str, total: float, *, bar: Progress | None, interval: float, stream) -> None:
        self.stage, self.total, self.done = stage, float(total), 0.0
        self._bar, self._interval, self._stream = bar, interval, stream
        self._task = bar.add_task(stage, total=total) if bar is not None else None
        self._start = self._last_line = time.monotonic()

    def advance(self, amount: float = 1) -> None:
        self.done += amount
        if self._bar is not None:
            self._bar.advance(self._task, amount)
        elif self._stream is not None and time.monotonic() - self._last_line >= self._interval:
            self._line()

    def _line(self, final: bool = False) -> None:
        elapsed = time.monotonic() - self._start
        share = self.done / self.total if self.total else 1.0
        eta = "done" if final else (f"ETA {_duration(elapsed * (1 - share) / share)}" if share > 0 else "ETA unknown")
        print(
            f"{self.stage}: {self.done:g}/{self.total:g} ({share:.0%}), {_duration(elapsed)} elapsed, {eta}",
            file=self._stream,
            flush=True,
        )
        self._last_line = time.monotonic()


@contextmanager
def progress(stage: str, total: float, *, enabled: bool = True, unit: str = "") -> Iterator[Tracker]:
    """Report the progress of `stage` (of `total` units) while the block runs; see the module docstring."""
    label = f"{stage} ({unit})" if unit else stage
    if not enabled:
        yield Tracker(label, total, bar=None, interval=float("inf"), stream=None)
        return
    if sys.stderr.isatty():
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            yield Tracker(label, total, bar=bar, interval=0.0, stream=None)
        return
    interval = float(os.environ.get("TUNESHIFT_PROGRESS_SECONDS", "30"))
    tracker = Tracker(label, total, bar=None, interval=interval, stream=sys.stderr)
    tracker._line()
    yield tracker
    tracker._line(final=True)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
