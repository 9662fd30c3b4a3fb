"""ADWIN (river's Rust implementation) fed from numpy batches, reporting what it cut.

river's :class:`~river.drift.ADWIN` keeps an adaptive window and drops its older part when the
means of two sub-windows differ by more than a Hoeffding/Bernstein bound. river resets the whole
window after a detection, so before a detection the window is everything since the last reset.
river does not expose the split that triggered a detection, so a detection carries only its
index; the engine describes the change from the raw values around it.

Its bound assumes bounded values, so the engine feeds it standardised normal scores.

>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> x = np.concatenate([rng.normal(0, 1, 2000), rng.normal(1, 1, 2000)])
>>> Adwin().update_many(x)
[2047]

**Bounded mode** (``max_window=W``): river's core is Rust and can be neither serialised nor
inspected, but its state is a deterministic function of the values fed since its last reset. So
the wrapper keeps those values (at most ``W``, as float32) and a restore re-feeds them into a
fresh core. When the buffer would exceed ``W``, ADWIN restarts from the newest ``W // 2`` values.
ADWIN then only compares sub-windows within the last ``W`` values at most: that is the price of
restorable state (a change needs fewer than ``W // 2`` values after it to be seen, and slow
drifts over more than ``W`` values are left to the window tests). Values are rounded to float32
before ADWIN sees them, so the stored buffer replays exactly.

>>> y = np.concatenate([rng.normal(0, 1, 5000), rng.normal(0.6, 1, 3000)])
>>> bounded = Adwin(delta=1e-5, max_window=DEFAULT_MAX_WINDOW)
>>> bounded.update_many(y[:4500]), bounded.width
([], 2452)
>>> restored = Adwin.from_state(bounded.to_state())  # e.g. in another worker
>>> [4500 + i for i in restored.update_many(y[4500:])]
[5151]
"""

from __future__ import annotations

from itertools import compress, count
from typing import Any

import numpy as np
from river.drift import ADWIN

DEFAULT_MAX_WINDOW = 4096  # values per bounded window: 16 KiB of float32 state per series


class Adwin:
    """Thin batch wrapper over river's ADWIN; constructor args mirror river's.

    It drives river's Rust core (``ADWIN._helper``) directly: the Python wrapper's per-value
    property lookups cost more than the update itself. Semantics stay river's: after a
    detection the next value starts a fresh window (river's ``update`` resets it the same way),
    which ``tests/detectors`` checks index for index against ``river.drift.ADWIN``. With
    ``max_window`` it runs in bounded mode (see the module docstring) and can be saved.
    """

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        min_window_length: int = 5,
        max_window: int | None = None,
    ) -> None:
        # Checked here: river's Rust core panics (a BaseException) on a zero clock, and saved
        # state feeds these arguments back in.
        if not 0.0 <= delta < 1.0:  # 0 (a tiny delta underflowed) never detects
            raise ValueError(f"delta must be in [0, 1), not {delta}")
        if not (1 <= clock <= 2**31 and 1 <= min_window_length <= 2**31):
            raise ValueError("clock and min_window_length must be in [1, 2**31]")
        if max_window is not None and not 2 <= max_window <= 2**31:
            raise ValueError(f"max_window must be in [2, 2**31], not {max_window}")
        self.delta = delta
        self.clock = clock
        self.min_window_length = min_window_length
        self.max_window = max_window
        self._buffer = np.empty(0, dtype=np.float32)  # bounded: values since the last reset
        self._filled = 0
        self._width = 0  # values since the last reset (kept in both modes)
        self._new_core()

    def _new_core(self) -> None:
        adwin = ADWIN(delta=self.delta, clock=self.clock, min_window_length=self.min_window_length)
        self._core: Any = adwin._helper

    @property
    def width(self) -> int:
        """Values in ADWIN's window now (all those since its last reset or restart)."""
        return self._width

    @property
    def values(self) -> np.ndarray:
        """Bounded mode: the values the current window holds, oldest first (a copy)."""
        return self._buffer[: self._filled].copy()

    def update_many(self, x: np.ndarray) -> list[int]:
        """Feed a batch of values; return the batch indexes of every detection, in order."""
        return [index for index, _ in self.changes(x)]

    def changes(self, x: np.ndarray) -> list[tuple[int, int]]:
        """Like :meth:`update_many`, with the window width (deciding value included) of each."""
        if self.max_window is None:
            return self._unbounded(x)
        return self._bounded(np.asarray(x, dtype=np.float32))

    def _unbounded(self, x: np.ndarray) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        update = self._core.update
        start = -self._width  # batch index of the window's first value
        for i, value in enumerate(x.tolist()):
            if update(value):
                found.append((i, i - start + 1))
                start = i + 1
                self._new_core()  # what river does before the next value
                update = self._core.update
        self._width = len(x) - start
        return found

    def _feed(self, values: list[float]) -> int:
        """Feed values to the core; the index of the first detection, or -1.

        The loop runs in C (``map`` calls the core, ``compress`` yields the index of each
        detection, ``next`` stops at the first): no value after a detection is fed.
        """
        return next(compress(count(), map(self._core.update, values)), -1)

    def _store(self, values: np.ndarray) -> None:
        end = self._filled + len(values)
        if end > len(self._buffer):  # grow by doubling up to the bound: small series stay small
            assert self.max_window is not None
            grown = np.empty(min(self.max_window, max(end, 2 * len(self._buffer))), np.float32)
            grown[: self._filled] = self._buffer[: self._filled]
            self._buffer = grown
        self._buffer[self._filled : end] = values
        self._filled = self._width = end

    def _restart(self, keep: np.ndarray) -> None:
        """A fresh core fed ``keep``; a detection inside it resets there (as river would)."""
        while True:
            self._new_core()
            hit = self._feed(keep.tolist())
            if hit < 0:
                break
            keep = keep[hit + 1 :]
        self._filled = 0
        self._store(keep)

    def _bounded(self, x: np.ndarray) -> list[tuple[int, int]]:
        assert self.max_window is not None
        found: list[tuple[int, int]] = []
        start = 0
        while start < len(x):
            if self._filled == self.max_window:
                keep = self._buffer[self._filled - self.max_window // 2 : self._filled]
                self._restart(keep.copy())
            chunk = x[start : start + self.max_window - self._filled]
            hit = self._feed(chunk.tolist())
            if hit < 0:
                self._store(chunk)
                start += len(chunk)
                continue
            found.append((start + hit, self._filled + hit + 1))
            self._new_core()
            self._filled = self._width = 0
            start += hit + 1
        return found

    def to_state(self) -> dict[str, Any]:
        """Constructor args and the window's values; only a bounded ADWIN can be restored."""
        if self.max_window is None:
            raise ValueError("an unbounded ADWIN cannot be saved: construct it with max_window")
        values = self._buffer[: self._filled]
        state: dict[str, Any] = {
            "delta": self.delta,
            "clock": self.clock,
            "min_window_length": self.min_window_length,
            "max_window": self.max_window,
        }
        if len(values) and np.isin(values, (0.0, 1.0)).all():  # error flags: one bit each
            state["values"] = np.packbits(values.astype(bool))
            state["bits"] = len(values)
        elif np.array_equal(values, np.round(values)) and (
            len(values) == 0 or (values.min() >= 0 and values.max() <= 255)
        ):  # small counts: a quarter of the bytes
            state["values"] = values.astype(np.uint8)
        else:
            state["values"] = values.copy()
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Adwin:
        """The same ADWIN again: a fresh core re-fed the saved values (no detection possible,
        since the saved window had none)."""
        adwin = cls(
            delta=float(state["delta"]),
            clock=int(state["clock"]),
            min_window_length=int(state["min_window_length"]),
            max_window=int(state["max_window"]),
        )
        values = np.asarray(state["values"])
        if "bits" in state:
            bits = int(state["bits"])
            if values.dtype != np.uint8 or not 0 <= bits <= 8 * len(values) < bits + 8:
                raise ValueError("saved ADWIN bits do not match their count")
            values = np.unpackbits(values, count=bits)
        values = values.astype(np.float32)
        if values.ndim != 1 or len(values) > int(state["max_window"]):
            raise ValueError("saved ADWIN values do not fit its window")
        if adwin._feed(values.tolist()) >= 0:
            raise ValueError("saved ADWIN values contain a detection")
        adwin._store(values)
        return adwin
