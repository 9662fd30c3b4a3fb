"""The merge of the two streams: one order, whatever the batching and arrival of the inputs."""

from __future__ import annotations

import numpy as np

from detector.labels.decode import LabelBatch
from detector.labels.merge import EVENTS, LABELS, Merger, concat_events, slice_events
from detector.testing.labelled import LabelledStream


def _batch(times: list[float], first: int) -> LabelBatch:
    n = len(times)
    ids = [str(first + i) for i in range(n)]
    return LabelBatch(list(range(n)), np.asarray(times), ids, ["1"] * n)


def _merged(
    events: list[float], labels: list[float], size_e: int, size_l: int
) -> list[tuple[int, int]]:
    """(side, index) in release order, pushing each stream in chunks, alternating."""
    merger: Merger[tuple[int, int]] = Merger()
    out: list[tuple[int, int]] = []
    chunks = max(len(events) // size_e, len(labels) // size_l) + 1
    for c in range(chunks):
        e = events[c * size_e : (c + 1) * size_e]
        lab = labels[c * size_l : (c + 1) * size_l]
        merger.push(EVENTS, _batch(e, 0), [(EVENTS, c * size_e + i) for i in range(len(e))])
        merger.push(LABELS, _batch(lab, 0), [(LABELS, c * size_l + i) for i in range(len(lab))])
        for _, _, tags in merger.release(ended=(False, False)):
            out += tags
    for _, _, tags in merger.release(ended=(True, True)):
        out += tags
    return out


def test_sorted_streams_merge_by_time_events_first_on_ties() -> None:
    """Time-sorted inputs come out as a stable sort by (time, events before labels)."""
    rng = np.random.default_rng(1)
    events = np.sort(rng.integers(0, 500, 700)).astype(float).tolist()
    labels = np.sort(rng.integers(0, 500, 400)).astype(float).tolist()
    expected = sorted(
        [(t, EVENTS, i) for i, t in enumerate(events)]
        + [(t, LABELS, i) for i, t in enumerate(labels)]
    )

    merged = _merged(events, labels, 64, 37)

    assert merged == [(side, i) for _, side, i in expected]


def test_order_does_not_depend_on_chunking() -> None:
    """Unsorted times (a late record) too: chunk sizes change nothing."""
    rng = np.random.default_rng(2)
    events = (np.arange(500) + rng.normal(0, 3, 500)).tolist()
    labels = (np.arange(300) * 1.5 + rng.normal(0, 3, 300)).tolist()

    orders = {tuple(_merged(events, labels, a, b)) for a, b in [(1, 1), (7, 300), (500, 3)]}

    assert len(orders) == 1
    assert sorted(next(iter(orders))) == sorted(
        [(EVENTS, i) for i in range(500)] + [(LABELS, i) for i in range(300)]
    )


def test_a_stream_waits_until_the_other_has_ended() -> None:
    """Events wait while the label stream may still bring earlier records."""
    merger: Merger[int] = Merger()
    merger.push(EVENTS, _batch([5.0, 6.0], 0), [0, 1])

    assert merger.release(ended=(False, False)) == []
    assert merger.waiting(EVENTS) == 2
    released = merger.release(ended=(False, True))
    assert [tags for _, _, tags in released] == [[0, 1]]
    assert merger.waiting(EVENTS) == 0


def test_event_slices_concatenate_back() -> None:
    """Slicing a decoded batch and concatenating the slices gives the batch back."""
    stream = LabelledStream(segments={"country": {"DE": 0.5, "FR": 0.5}})
    _, batch = next(iter(stream.batches(100)))
    assert hasattr(batch, "numeric")
    parts = [slice_events(batch, 0, 30), slice_events(batch, 30, 31), slice_events(batch, 31, 100)]

    whole = concat_events(parts)

    assert whole.ids == batch.ids
    assert whole.segments == batch.segments
    assert np.array_equal(whole.times, batch.times)
    assert np.array_equal(whole.numeric["prediction"], batch.numeric["prediction"])
