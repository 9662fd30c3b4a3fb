"""ADWIN's saved state: restores exactly, stays small, and is refused when inconsistent."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from river.drift import ADWIN

from detector.detectors.adwin import Adwin
from detector.state import StateError, decode_state, encode_state


def _stream(seed: int) -> np.ndarray:
    """Normal scores with two mean shifts and a variance change."""
    rng = np.random.default_rng(seed)
    parts = [
        rng.normal(0, 1, 6000),
        rng.normal(1.0, 1, 5000),
        rng.normal(1.0, 2, 4000),
        rng.normal(-0.5, 1, 6000),
    ]
    return np.concatenate(parts)


def _run(x: np.ndarray, splits: list[int], restore: bool) -> list[tuple[int, int]]:
    """Detections (index, width) over ``x`` cut at ``splits``, optionally restored at each."""
    adwin = Adwin(delta=1e-5)
    found: list[tuple[int, int]] = []
    bounds = [0, *splits, len(x)]
    for start, stop in itertools.pairwise(bounds):
        if restore and start:
            adwin = decode_state(encode_state(adwin))
        found += [(start + i, width) for i, width in adwin.changes(x[start:stop])]
    return found


@pytest.mark.parametrize("seed", range(4))
def test_restore_in_the_middle_changes_nothing(seed: int) -> None:
    """Snapshot and restore at several points (fresh, mid-window, between clock ticks, just after
    a detection) gives the detections of an uninterrupted run, index and width."""
    x = _stream(seed)
    whole = _run(x, [], restore=False)
    assert len(whole) >= 2, "the stream has changes to detect"
    after_detection = whole[0][0] + 1
    splits = sorted({1, 31, 32, 777, 4096, after_detection, 9999, 15_000})
    assert _run(x, splits, restore=True) == whole
    assert _run(x, splits, restore=False) == whole  # batching does not matter


def test_restored_adwin_still_matches_river() -> None:
    """Saved and restored every 1,000 values, ADWIN detects where river's uninterrupted one does."""
    x = _stream(5)
    river, expected = ADWIN(delta=1e-5), []
    for i, value in enumerate(x.tolist()):
        river.update(value)
        if river.drift_detected:
            expected.append(i)
    found = [i for i, _ in _run(x, list(range(1000, len(x), 1000)), restore=True)]
    assert len(expected) >= 2 and found == expected


def test_state_is_small_however_long_the_window() -> None:
    """A window of 200,000 values saves in under 2 KiB: the histogram, not the values."""
    adwin = Adwin(delta=1e-5)
    adwin.update_many(np.random.default_rng(1).normal(size=200_000))
    assert adwin.width == 200_000
    assert len(encode_state(adwin)) < 2048


@pytest.mark.parametrize(
    "change",
    [
        {"width": 12345.0},  # does not match the buckets
        {"rows": np.array([5, 5, 9], dtype=np.uint8)},  # more buckets than arrays hold
        {"totals": np.array([np.nan] * 3)},  # wrong length and not finite
        {"rows": np.array([1, 2], dtype=np.int64)},  # wrong dtype
        {"tick": -1},
    ],
)
def test_inconsistent_state_is_refused(change: dict[str, object]) -> None:
    """A histogram ADWIN cannot hold is refused; read from a snapshot, as a StateError."""
    adwin = Adwin(delta=1e-5)
    adwin.update_many(np.random.default_rng(2).normal(size=3000))
    forged = {**adwin.to_state(), **change}
    with pytest.raises(ValueError):
        Adwin.from_state(forged)
    adwin.to_state = lambda: forged  # type: ignore[method-assign]  # what a hostile writer saves
    with pytest.raises(StateError):
        decode_state(encode_state(adwin))
