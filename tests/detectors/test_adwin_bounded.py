"""Bounded ADWIN: restorable exactly, window never above its bound, still detecting changes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from detector.detectors.adwin import DEFAULT_MAX_WINDOW, Adwin
from detector.state import decode_state, encode_state


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


def _run(x: np.ndarray, splits: list[int], restore: bool, window: int) -> list[tuple[int, int]]:
    """Detections (index, width) over ``x`` cut at ``splits``, optionally restored at each."""
    adwin = Adwin(delta=1e-5, max_window=window)
    found: list[tuple[int, int]] = []
    bounds = [0, *splits, len(x)]
    for start, stop in itertools.pairwise(bounds):
        if restore and start:
            adwin = decode_state(encode_state(adwin))
        found += [(start + i, width) for i, width in adwin.changes(x[start:stop])]
        assert adwin.width <= window
    return found


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("window", [512, DEFAULT_MAX_WINDOW])
def test_restore_in_the_middle_changes_nothing(seed: int, window: int) -> None:
    """Snapshot and restore at several points (fresh, mid-window, just after a restart and a
    detection) gives the detections of an uninterrupted run, index and width."""
    x = _stream(seed)
    whole = _run(x, [], restore=False, window=window)
    assert whole, "the stream has changes to detect"
    after_detection = whole[0][0] + 1
    splits = sorted({1, 777, window, window + 1, after_detection, 9999, 15_000})
    assert _run(x, splits, restore=True, window=window) == whole
    assert _run(x, splits, restore=False, window=window) == whole  # batching does not matter


def test_bounded_mode_still_detects_like_river() -> None:
    """After mean shifts, the bounded window detects within a few hundred values of river."""
    x = _stream(11)
    unbounded = Adwin(delta=1e-5).update_many(x)
    bounded = Adwin(delta=1e-5, max_window=DEFAULT_MAX_WINDOW).update_many(x)
    for change in (6000, 15_000):
        first = next(i for i in unbounded if i >= change)
        assert 0 <= next(i for i in bounded if i >= change) - first <= 300


def test_saved_window_is_float32_bytes_or_bits() -> None:
    """Scores are saved as float32 (4 bytes a value), small counts as single bytes and 0/1
    error flags as bits; each comes back as the same window."""
    rng = np.random.default_rng(3)
    scores, counts, flags = Adwin(max_window=1000), Adwin(max_window=1000), Adwin(max_window=1000)
    scores.update_many(rng.normal(size=900))
    counts.update_many(rng.integers(0, 5, size=900).astype(float))
    flags.update_many((rng.random(900) < 0.1).astype(float))
    assert scores.to_state()["values"].dtype == np.float32
    assert counts.to_state()["values"].dtype == np.uint8 and "bits" not in counts.to_state()
    assert flags.to_state()["bits"] == flags.width and len(flags.to_state()["values"]) == 113
    assert len(encode_state(scores)) > 3600 > 900 + 400 > len(encode_state(counts))
    assert len(encode_state(flags)) < 113 + 400
    for adwin in (scores, counts, flags):
        again = decode_state(encode_state(adwin))
        assert isinstance(again, Adwin)
        assert np.array_equal(again.values, adwin.values) and again.width == adwin.width


@pytest.mark.parametrize("bits", [-1, 896, 905])
def test_saved_bits_must_match_their_count(bits: int) -> None:
    """A bit count that does not fit the packed bytes is refused."""
    flags = Adwin(max_window=1000)
    flags.update_many((np.random.default_rng(3).random(900) < 0.1).astype(float))
    state = {**flags.to_state(), "bits": bits}
    with pytest.raises(ValueError):
        Adwin.from_state(state)
