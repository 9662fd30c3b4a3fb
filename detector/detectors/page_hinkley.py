"""Page-Hinkley over numpy batches, with river's exact semantics.

river's :class:`river.drift.PageHinkley` costs a Python call per value. This implementation takes a
whole array per call and reproduces river's detections index for index (``tests/detectors``
checks that on seeded streams), and it also reports *where* the change started: the last index at
which the cumulative sum reached its extreme, the classic CUSUM change-point estimate.

Inputs are expected in reference standard deviations (the engine standardises them), so
``delta`` and ``threshold`` are scale-free: ``delta`` is half the smallest shift worth detecting.

>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> x = np.concatenate([rng.normal(0, 1, 2000), rng.normal(1, 1, 2000)])
>>> ph = PageHinkley(delta=0.25, threshold=50)
>>> [(d.index, d.direction, d.onset) for d in ph.update_many(x)]
[(2064, 'up', 1999)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter


@dataclass(frozen=True)
class PHDetection:
    """A detection at ``index`` of the batch; the change began after batch index ``onset``.

    ``onset`` is negative when the estimated start lies in an earlier batch.
    """

    index: int
    direction: str
    statistic: float
    onset: int


class PageHinkley:
    """Two-sided Page-Hinkley test (CUSUM against the running mean since the last reset)."""

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.25,
        threshold: float = 50.0,
        alpha: float = 1.0,
    ) -> None:
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self._seen = 0  # values since the last reset, across batches
        self._reset()

    def _reset(self) -> None:
        self._n = 0
        self._sum = 0.0  # of values since the reset: a sum, not a mean, so batching is exact
        self._sum_inc = 0.0
        self._sum_dec = 0.0
        self._min_inc = np.inf
        self._max_dec = -1.0  # river starts at -1, not -inf; kept for identical detections
        self._min_at = -1  # absolute index (in self._seen numbering) of the extremes
        self._max_at = -1

    @property
    def statistic(self) -> float | None:
        """The larger one-sided test value now (alarm above ``threshold``); None when reset."""
        if self._n == 0:
            return None
        return max(self._sum_inc - float(self._min_inc), self._max_dec - self._sum_dec)

    def _cumulative(self, steps: np.ndarray, start: float) -> np.ndarray:
        if self.alpha == 1.0:  # prepend the carry: the same additions in the same order
            return np.cumsum(np.concatenate([[start], steps]))[1:]
        out, _ = lfilter([1.0], [1.0, -self.alpha], steps, zi=[self.alpha * start])
        return np.asarray(out)

    def update_many(self, x: np.ndarray) -> list[PHDetection]:
        """Feed a batch of values; return every detection, in order."""
        detections: list[PHDetection] = []
        start = 0
        base = self._seen
        while start < len(x):
            chunk = x[start:]
            idx = np.arange(len(chunk))
            n = self._n + idx + 1
            sums = np.cumsum(np.concatenate([[self._sum], chunk]))[1:]
            means = sums / n
            dev = chunk - means
            s_inc = self._cumulative(dev - self.delta, self._sum_inc)
            s_dec = self._cumulative(dev + self.delta, self._sum_dec)
            min_inc = np.minimum(self._min_inc, np.minimum.accumulate(s_inc))
            max_dec = np.maximum(self._max_dec, np.maximum.accumulate(s_dec))
            test_inc = s_inc - min_inc
            test_dec = max_dec - s_dec
            armed = n >= self.min_instances
            hit = armed & ((test_inc > self.threshold) | (test_dec > self.threshold))
            stop = int(np.argmax(hit)) if hit.any() else len(chunk) - 1
            absolute = base + start + idx
            min_at = _last_extreme(s_inc <= min_inc, absolute, self._min_at)
            max_at = _last_extreme(s_dec >= max_dec, absolute, self._max_at)

            self._n = int(n[stop])
            self._sum = float(sums[stop])
            self._sum_inc, self._sum_dec = float(s_inc[stop]), float(s_dec[stop])
            self._min_inc, self._max_dec = float(min_inc[stop]), float(max_dec[stop])
            self._min_at, self._max_at = int(min_at[stop]), int(max_at[stop])
            if not hit[stop]:
                break
            up = bool(test_inc[stop] > self.threshold)
            onset_abs = self._min_at if up else self._max_at
            detections.append(
                PHDetection(
                    index=int(start + stop),
                    direction="up" if up else "down",
                    statistic=float(test_inc[stop] if up else test_dec[stop]),
                    onset=int(onset_abs - base),
                )
            )
            self._reset()
            start += stop + 1
        self._seen = base + len(x)
        return detections


def _last_extreme(is_extreme: np.ndarray, absolute: np.ndarray, previous: int) -> np.ndarray:
    marks = np.where(is_extreme, absolute, previous)
    return np.maximum.accumulate(marks)
