"""ADWIN (river's Rust implementation) fed from numpy batches, reporting what it cut.

river's :class:`~river.drift.ADWIN` keeps an adaptive window and drops its older part when the
means of two sub-windows differ by more than a Hoeffding/Bernstein bound. river resets the whole
window after a detection, so before a detection the window is everything since the last reset.
river does not expose the split that triggered, so we report the bound at the split between what
it dropped and what it kept: the smallest mean difference it would certify there.

Its bound assumes bounded values, so the engine feeds it standardised normal scores.

>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> x = np.concatenate([rng.normal(0, 1, 2000), rng.normal(1, 1, 2000)])
>>> [(d.index, round(d.bound, 3)) for d in Adwin().update_many(x)]
[(2047, 0.288)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from river.drift import ADWIN


@dataclass(frozen=True)
class AdwinDetection:
    """A detection at batch ``index``; ``bound`` is ADWIN's cut bound (input units)."""

    index: int
    bound: float


class Adwin:
    """Thin batch wrapper over river's ADWIN; constructor args mirror river's."""

    def __init__(self, delta: float = 0.002, clock: int = 32, min_window_length: int = 5) -> None:
        self.delta = delta
        self.clock = clock
        self.min_window_length = min_window_length
        self._adwin = ADWIN(delta=delta, clock=clock, min_window_length=min_window_length)
        self._n = 0  # values since the last reset

    def update_many(self, x: np.ndarray) -> list[AdwinDetection]:
        """Feed a batch of values; return every detection, in order."""
        detections: list[AdwinDetection] = []
        adwin = self._adwin
        for i, value in enumerate(x.tolist()):
            adwin.update(value)
            self._n += 1
            if adwin.drift_detected:
                detections.append(AdwinDetection(i, self._bound()))
                self._n = 0  # river resets on the next update
        return detections

    def _bound(self) -> float:
        adwin = self._adwin
        n1 = max(adwin.width, 1)
        n0 = max(self._n - adwin.width, 1)
        # The cut bound river applies at this split (ADWIN2, Bifet & Gavalda 2007).
        dd = math.log(2.0 * math.log(max(self._n, 3)) / self.delta)
        m = 1.0 / n0 + 1.0 / n1
        variance = max(adwin.variance, 0.0) / n1  # river reports the sum of squared deviations
        bound = math.sqrt(2.0 * m * variance * dd) + 2.0 / 3.0 * dd * m
        return bound
