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
"""

from __future__ import annotations

from typing import Any

import numpy as np
from river.drift import ADWIN


class Adwin:
    """Thin batch wrapper over river's ADWIN; constructor args mirror river's.

    It drives river's Rust core (``ADWIN._helper``) directly: the Python wrapper's per-value
    property lookups cost more than the update itself. Semantics stay river's: after a
    detection the next value starts a fresh window (river's ``update`` resets it the same way),
    which ``tests/detectors`` checks index for index against ``river.drift.ADWIN``.
    """

    def __init__(self, delta: float = 0.002, clock: int = 32, min_window_length: int = 5) -> None:
        self.delta = delta
        self.clock = clock
        self.min_window_length = min_window_length
        self._adwin = ADWIN(delta=delta, clock=clock, min_window_length=min_window_length)
        self._core: Any = self._adwin._helper

    def update_many(self, x: np.ndarray) -> list[int]:
        """Feed a batch of values; return the batch indexes of every detection, in order."""
        detections: list[int] = []
        update = self._core.update
        for i, value in enumerate(x.tolist()):
            if update(value):
                detections.append(i)
                self._adwin._reset()  # what river does before the next value
                self._core = self._adwin._helper
                update = self._core.update
        return detections
