"""The core's Page-Hinkley (``PageHinkleyCore``, what each numeric series core runs on its
normal scores) reproduces river's detections and estimates the change point.

river's :class:`river.drift.PageHinkley` costs a Python call per value; the core runs a whole
array per call, detects at the same indexes, and also reports *where* the change started: the
last index at which the cumulative sum reached its extreme, the classic CUSUM change-point
estimate. Inputs are in reference standard deviations, so ``delta`` (half the smallest shift
worth detecting) and ``threshold`` are scale-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from river.drift import PageHinkley as RiverPageHinkley

from detector._native import PageHinkleyCore


@dataclass(frozen=True)
class PHDetection:
    """A detection at ``index`` of the batch; the change began after batch index ``onset``
    (negative when the estimated start lies in an earlier batch)."""

    index: int
    direction: str
    statistic: float
    onset: int


class PageHinkley:
    """Two-sided Page-Hinkley (CUSUM against the running mean since the last reset)."""

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.25,
        threshold: float = 50.0,
        alpha: float = 1.0,
    ) -> None:
        self._core = PageHinkleyCore(min_instances, delta, threshold, alpha)

    def update_many(self, x: np.ndarray) -> list[PHDetection]:
        """Feed a batch of values; return every detection, in order."""
        found = self._core.update_many(np.ascontiguousarray(x, dtype=np.float64))
        return [
            PHDetection(index, "up" if up else "down", statistic, onset)
            for index, up, statistic, onset in found
        ]


def river_detections(x: np.ndarray, **params: float) -> list[int]:
    detector = RiverPageHinkley(min_instances=30, mode="both", **params)
    found = []
    for i, value in enumerate(x.tolist()):
        detector.update(value)
        if detector.drift_detected:
            found.append(i)
    return found


def batched_detections(x: np.ndarray, rng: np.random.Generator, **params: float) -> list[int]:
    detector = PageHinkley(min_instances=30, **params)
    found, start = [], 0
    while start < len(x):
        size = int(rng.integers(1, 700))
        found += [start + d.index for d in detector.update_many(x[start : start + size])]
        start += size
    return found


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alpha", [1.0, 0.9999])
def test_same_detections_as_river_for_any_batching(seed: int, alpha: float) -> None:
    """Index-for-index equal to river's per-event PageHinkley, whatever the batch sizes."""
    rng = np.random.default_rng(seed)
    x = np.concatenate(
        [rng.normal(0, 1, 3000), rng.normal(0.7, 1, 3000), rng.normal(-0.5, 2, 3000)]
    )
    params = {"delta": 0.1, "threshold": 20.0, "alpha": alpha}
    expected = river_detections(x, **params)
    assert len(expected) >= 3  # the stream has changes, so the comparison is not vacuous
    assert batched_detections(x, rng, **params) == expected


def test_onset_estimates_the_change_point() -> None:
    """The reported onset lies close to the true change, before the detection."""
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(0, 1, 5000), rng.normal(-1, 1, 1000)])
    detections = PageHinkley(delta=0.25, threshold=50).update_many(x)
    assert len(detections) == 1
    first = detections[0]
    assert first.direction == "down"
    assert 5000 < first.index < 5200
    assert abs(first.onset - 4999) < 30
    assert first.statistic > 50


def test_onset_from_an_earlier_batch_is_negative() -> None:
    """When the change began in an earlier batch, onset is relative (negative)."""
    rng = np.random.default_rng(3)
    ph = PageHinkley(delta=0.25, threshold=50)
    assert ph.update_many(rng.normal(0, 1, 3000)) == []
    assert ph.update_many(rng.normal(2, 1, 10)) == []  # change starts here, too few to detect
    detections = ph.update_many(rng.normal(2, 1, 500))
    assert detections and detections[0].onset < 0


def test_detects_a_one_sd_shift_after_it_began() -> None:
    """A shift of one sd at 2,000 is caught 65 values later, its onset estimated at 1,999."""
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(0, 1, 2000), rng.normal(1, 1, 2000)])
    found = PageHinkley(delta=0.25, threshold=50).update_many(x)
    assert [(d.index, d.direction, d.onset) for d in found] == [(2064, "up", 1999)]


def test_threshold_and_statistic_are_readable_and_the_threshold_settable() -> None:
    """The core's threshold can be raised (a series calibrated for dependence does so)."""
    core = PageHinkleyCore(30, 0.25, 50.0, 1.0)
    assert core.statistic is None and core.threshold == 50.0
    core.threshold = 80.0
    core.update_many(np.zeros(40))
    assert core.threshold == 80.0 and core.statistic is not None


def test_no_detection_on_stationary_standard_normal() -> None:
    """Calibrated defaults: no alarm over 500k standard normal values."""
    x = np.random.default_rng(5).standard_normal(500_000)
    assert PageHinkley(delta=0.25, threshold=50).update_many(x) == []
