"""PairRing: the latest pairs' times and error flags, and their compact saved form."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detector.labels.ring import PairRing
from detector.state import decode_state, encode_state


def _filled(times: np.ndarray, size: int = 1000, batch: int = 333) -> PairRing:
    rng = np.random.default_rng(4)
    ring = PairRing(size)
    for start in range(0, len(times), batch):
        part = times[start : start + batch]
        ring.push(part, rng.random(len(part)) < 0.3)
    return ring


def _same(a: PairRing, b: PairRing) -> bool:
    n = min(a.count, a.size)
    return (
        a.count == b.count
        and np.array_equal(a.latest_errors(n), b.latest_errors(n))
        and [a.time_of(i) for i in range(a.count)] == [b.time_of(i) for i in range(b.count)]
    )


@pytest.mark.parametrize(
    ("times", "unit", "dtype"),
    [
        (1_767_225_600 + np.arange(2500) * 0.25, 1000, "uint8"),  # 250 ms apart
        (1_767_225_600 + np.arange(2500) * 40.0, 1, "uint8"),  # whole seconds
        (1_767_225_600 + np.arange(2500) * 40.5, 1000, "uint16"),  # 40.5 s gaps
        (1_767_225_600 + np.arange(2500) * 1e-6, 1_000_000, "uint8"),  # microseconds
        (1_767_225_600 + np.arange(2500)[::-1] * 0.5, 1000, "int16"),  # going back
    ],
)
def test_times_saved_as_exact_integer_steps(times: np.ndarray, unit: int, dtype: str) -> None:
    """Whole milliseconds (or microseconds) become small integer steps and come back equal."""
    ring = _filled(times)
    state = ring.to_state()
    assert state["times"]["unit"] == unit and state["times"]["steps"].dtype.name == dtype
    assert _same(PairRing.from_state(decode_state(encode_state(state))), ring)


def test_times_that_are_not_whole_ticks_are_saved_as_floats() -> None:
    """A time with sub-microsecond digits is kept as float64, still exactly."""
    times = 1_767_225_600 + np.random.default_rng(1).random(1500) * 100
    ring = _filled(np.sort(times))
    assert ring.to_state()["times"]["unit"] == 0
    assert _same(PairRing.from_state(ring.to_state()), ring)


def test_full_ring_state_is_small() -> None:
    """16,384 pairs a second apart: bit flags and one-byte steps, not 144 KiB of arrays."""
    ring = _filled(1_767_225_600 + np.arange(20_000, dtype=float), size=16_384, batch=5000)
    assert len(encode_state(ring)) < 20 * 1024
    assert ring.time_of(0) == ring.time_of(20_000 - 16_384) == 1_767_225_600 + 20_000 - 16_384


def test_empty_ring_round_trips() -> None:
    """No pair yet: nothing to save, and the restored ring is empty too."""
    ring = PairRing.from_state(PairRing(8).to_state())
    assert ring.count == 0 and len(ring.latest_errors(5)) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"count": -1},
        {"errors": np.zeros(3, dtype=np.uint8)},
        {"errors": np.zeros(125, dtype=np.int64)},
        {"times": {"unit": 7, "first": 0, "steps": np.zeros(999, dtype=np.uint8)}},
        {"times": {"unit": 1000, "first": 0, "steps": np.zeros(5, dtype=np.uint8)}},
        {"times": {"unit": 1000, "first": 0, "steps": np.zeros(999)}},
        {"times": {"unit": 0, "first": 0, "steps": np.zeros(3)}},
        {"size": 0},
    ],
)
def test_inconsistent_saved_rings_are_refused(change: dict[str, Any]) -> None:
    """Lengths, units and dtypes that do not fit the ring raise ValueError."""
    state = {**_filled(1_767_225_600 + np.arange(1500) * 0.5).to_state(), **change}
    with pytest.raises(ValueError):
        PairRing.from_state(state)
