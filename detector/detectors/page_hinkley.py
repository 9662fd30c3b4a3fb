"""Page-Hinkley over numpy batches, with river's exact semantics.

river's :class:`river.drift.PageHinkley` costs a Python call per value. This one runs a whole array
per call in our Rust core (``detector._native``) and reproduces river's detections index for index
(``tests/detectors`` checks that on seeded streams), and it also reports *where* the change
started: the last index at which the cumulative sum reached its extreme, the classic CUSUM
change-point estimate.

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

from detector._native import PageHinkleyCore


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
        self.alpha = alpha
        self._core = PageHinkleyCore(min_instances, delta, threshold, alpha)

    @property
    def threshold(self) -> float:
        return float(self._core.threshold)

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._core.threshold = value

    @property
    def statistic(self) -> float | None:
        """The larger one-sided test value now (alarm above ``threshold``); None when reset."""
        value = self._core.statistic
        return None if value is None else float(value)

    def update_many(self, x: np.ndarray) -> list[PHDetection]:
        """Feed a batch of values; return every detection, in order."""
        found = self._core.update_many(np.ascontiguousarray(x, dtype=np.float64))
        return [
            PHDetection(index, "up" if up else "down", statistic, onset)
            for index, up, statistic, onset in found
        ]
