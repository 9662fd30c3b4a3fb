"""ADWIN fed from numpy batches, reporting what it cut; river's algorithm, in our Rust core.

river's :class:`~river.drift.ADWIN` keeps an adaptive window and drops its older part when the
means of two sub-windows differ by more than a Hoeffding/Bernstein bound; after a detection the
next value starts a fresh window. :class:`Adwin` runs the same algorithm with the same
floating-point arithmetic (``detector._native``), so it detects at the same indexes as river
(``tests/detectors`` checks that on seeded streams), a whole batch per call.

Its bound assumes bounded values, so the engine feeds it standardised normal scores.

>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> x = np.concatenate([rng.normal(0, 1, 2000), rng.normal(1, 1, 2000)])
>>> Adwin().update_many(x)
[2047]

Unlike river's, its state can be saved: the exponential histogram is a few hundred numbers
however long the window is, and a restore gives the same ADWIN exactly.

>>> y = np.concatenate([rng.normal(0, 1, 5000), rng.normal(0.6, 1, 3000)])
>>> adwin = Adwin(delta=1e-5)
>>> adwin.update_many(y[:4500]), adwin.width
([], 4500)
>>> restored = Adwin.from_state(adwin.to_state())  # e.g. in another worker
>>> [4500 + i for i in restored.update_many(y[4500:])]
[5183]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detector._native import AdwinCore


class Adwin:
    """Batch ADWIN; constructor args mirror river's (``max_buckets`` and ``grace_period`` are
    river's defaults, 5 and 10)."""

    def __init__(self, delta: float = 0.002, clock: int = 32, min_window_length: int = 5) -> None:
        # Checked here: saved state feeds these arguments back in.
        if not 0.0 <= delta < 1.0:  # 0 (a tiny delta underflowed) never detects
            raise ValueError(f"delta must be in [0, 1), not {delta}")
        if not (1 <= clock <= 2**31 and 1 <= min_window_length <= 2**31):
            raise ValueError("clock and min_window_length must be in [1, 2**31]")
        self.delta = delta
        self.clock = clock
        self.min_window_length = min_window_length
        self._core = AdwinCore(delta, clock, min_window_length)

    @property
    def width(self) -> int:
        """Values in ADWIN's window now (all those since its last reset)."""
        return int(self._core.width)

    def update_many(self, x: np.ndarray) -> list[int]:
        """Feed a batch of values; return the batch indexes of every detection, in order."""
        return [index for index, _ in self.changes(x)]

    def changes(self, x: np.ndarray) -> list[tuple[int, int]]:
        """Like :meth:`update_many`, with the window width (deciding value included) of each."""
        return self._core.changes(np.ascontiguousarray(x, dtype=np.float64))

    def to_state(self) -> dict[str, Any]:
        """Constructor args and the exponential histogram."""
        width, total, variance, tick, lengths, totals, variances = self._core.state()
        return {
            "delta": self.delta,
            "clock": self.clock,
            "min_window_length": self.min_window_length,
            "width": width,
            "total": total,
            "variance": variance,
            "tick": tick,
            "rows": lengths,
            "totals": totals,
            "variances": variances,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Adwin:
        """The saved ADWIN; ValueError when the histogram is not one ADWIN can hold."""
        adwin = cls(
            delta=float(state["delta"]),
            clock=int(state["clock"]),
            min_window_length=int(state["min_window_length"]),
        )
        arrays = [np.asarray(state[k]) for k in ("rows", "totals", "variances")]
        if arrays[0].dtype != np.uint8 or any(a.dtype != np.float64 for a in arrays[1:]):
            raise ValueError("saved ADWIN arrays have the wrong types")
        tick = int(state["tick"])
        if not 0 <= tick < 2**32:
            raise ValueError("saved ADWIN tick out of range")
        adwin._core = AdwinCore.restored(
            adwin.delta,
            adwin.clock,
            adwin.min_window_length,
            float(state["width"]),
            float(state["total"]),
            float(state["variance"]),
            tick,
            *arrays,
        )
        return adwin
