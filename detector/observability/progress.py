"""A progress line for long commands, on stderr when it is a terminal, silent otherwise.

``replay`` of a file knows its size, so it shows bytes read of the total; ``run --until-end``
knows the end offsets it stops at, so it shows records consumed of those still to read. Both show
events per second (over the last few seconds) and an ETA:

    replay  12.0 MiB / 40.0 MiB (30%)  60,000 events  25,000 events/s  ETA 0:00:03

A background thread redraws the line every half second from counters the hot path keeps anyway,
so progress costs the hot path nothing (``replay`` adds one integer addition per line, and only
on a terminal).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, TextIO

if TYPE_CHECKING:  # keeps Kafka out of replay's imports
    from detector.observability.metrics import WorkerMetrics

RATE_WINDOW = 5.0  # seconds of history behind the events/s figure


@dataclass(frozen=True)
class Sample:
    """How far a command got: events handled, units done (bytes or records) and their total."""

    events: int
    done: float
    total: float | None


def _size(n: float) -> str:
    """Bytes in binary units.

    >>> _size(512), _size(1536), _size(3 * 2**30)
    ('512 B', '1.5 KiB', '3.0 GiB')
    """
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    value, unit = float(n), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{int(value)} B" if unit == 0 else f"{value:.1f} {units[unit]}"


def _clock_text(seconds: float) -> str:
    """``H:MM:SS``.

    >>> _clock_text(3725.4)
    '1:02:05'
    """
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class Progress:
    """Renders :class:`Sample` readings as one self-overwriting line."""

    def __init__(
        self,
        label: str,
        read: Callable[[], Sample],
        stream: TextIO,
        unit: str = "bytes",
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.5,
    ) -> None:
        self.label, self.read, self.stream, self.unit = label, read, stream, unit
        self.clock, self.interval = clock, interval
        self._history: deque[tuple[float, Sample]] = deque()
        self._width = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def line(self) -> str:
        """The current progress text (no carriage return)."""
        now, sample = self.clock(), self.read()
        self._history.append((now, sample))
        while len(self._history) > 2 and now - self._history[1][0] >= RATE_WINDOW:
            self._history.popleft()
        then, first = self._history[0]
        elapsed = now - then
        parts = [self.label]
        amount = _size if self.unit == "bytes" else (lambda n: f"{int(n):,}")
        suffix = "" if self.unit == "bytes" else f" {self.unit}"
        if sample.total:
            share = min(1.0, sample.done / sample.total)
            parts.append(f"{amount(sample.done)} / {amount(sample.total)}{suffix} ({share:.0%})")
        parts.append(f"{sample.events:,} events")
        if elapsed > 0:
            rate = (sample.events - first.events) / elapsed
            parts.append(f"{rate:,.0f} events/s")
            speed = (sample.done - first.done) / elapsed
            if sample.total and speed > 0:
                eta = max(0.0, sample.total - sample.done) / speed
                parts.append(f"ETA {_clock_text(eta)}")
        return "  ".join(parts)

    def draw(self) -> None:
        text = self.line()
        pad = " " * max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.draw()

    def start(self) -> Progress:
        self.draw()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop redrawing; draw the final state and end the line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.draw()
        self.stream.write("\n")
        self.stream.flush()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _file_size(stream: BinaryIO) -> int | None:
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


class _Counted:
    def __init__(self) -> None:
        self.lines = 0
        self.bytes = 0

    def lines_of(self, stream: BinaryIO) -> Iterator[bytes]:
        """Non-blank lines (as :func:`detector.replay.read_lines`), counting bytes read."""
        for line in stream:
            self.bytes += len(line)
            if line.strip():
                self.lines += 1
                yield line


@contextlib.contextmanager
def replay_progress(
    stream: BinaryIO, lines: Iterable[bytes], stderr: TextIO | None = None
) -> Iterator[Iterable[bytes]]:
    """Yield the lines to replay; on a terminal, draw progress while they are consumed.

    ``lines`` is what to replay without progress (e.g. ``read_lines(stream)``); on a terminal
    the lines are read from ``stream`` directly so the bytes can be counted.
    """
    err = stderr if stderr is not None else sys.stderr
    if not _is_tty(err):
        yield lines
        return
    counted, total = _Counted(), _file_size(stream)
    progress = Progress(
        "replay", lambda: Sample(counted.lines, counted.bytes, total), err, "bytes"
    ).start()
    try:
        yield counted.lines_of(stream)
    finally:
        progress.stop()


def run_sample(metrics: WorkerMetrics) -> Sample:
    """Records consumed, and of how many up to the end offsets ``run --until-end`` stops at."""
    snap = metrics.snapshot()
    remaining = sum(
        max(0, end - snap.positions[p]) for p, end in snap.ends.items() if p in snap.positions
    )
    return Sample(snap.records, snap.records, snap.records + remaining)


@contextlib.contextmanager
def run_progress(
    metrics: WorkerMetrics, enabled: bool, stderr: TextIO | None = None
) -> Iterator[Progress | None]:
    """Draw ``run --until-end`` progress while the block runs, if enabled and on a terminal."""
    err = stderr if stderr is not None else sys.stderr
    if not enabled or not _is_tty(err):
        yield None
        return
    progress = Progress("run", lambda: run_sample(metrics), err, "records").start()
    try:
        yield progress
    finally:
        progress.stop()
