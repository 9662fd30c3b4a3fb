"""Tumbling windows over a series' events, closed by event count or by event time.

A series calls :meth:`WindowClock.closes` with each micro-batch's event times and gets back the
batch positions at which a window ends (inclusive). Count windows end every ``size`` events; time
windows end before the first event at or past ``start + seconds``, so a window never mixes two
periods. Boundaries depend only on the series' own events, never on batching.

This is the performance series' clock (:mod:`detector.labels.series`, which runs in Python). The
feature series' cores keep the same boundaries in Rust (``native/src/window.rs``, one event at a
time); ``tests/test_differential.py`` checks that both end the same windows on random streams
cut into random batches.

>>> clock = WindowClock(size=3, seconds=None)
>>> clock.closes(np.zeros(4)), clock.closes(np.zeros(5))
([2], [1, 4])
>>> timed = WindowClock(size=0, seconds=10.0)
>>> timed.closes(np.array([0.0, 4.0, 11.0, 12.0, 25.0]))
[1, 3]
"""

from __future__ import annotations

import numpy as np


class WindowClock:
    """Where windows end, given the event times of each batch."""

    def __init__(self, size: int, seconds: float | None) -> None:
        self.size = size
        self.seconds = seconds
        self.filled = 0  # events in the open window
        self.started_at: float | None = None  # event time of its first event

    def closes(self, times: np.ndarray) -> list[int]:
        ends: list[int] = []
        if self.seconds is None:
            first = self.size - self.filled - 1
            ends = list(range(first, len(times), self.size))
            self.filled = (self.filled + len(times)) % self.size
            return ends
        for i, when in enumerate(times.tolist()):
            if self.started_at is None:
                self.started_at = when
            elif when >= self.started_at + self.seconds:
                if i > 0:
                    ends.append(i - 1)
                else:
                    ends.append(-1)  # the window ended with the previous batch
                self.started_at = when
        return ends
