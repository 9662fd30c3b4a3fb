"""The join store: pairs on the second half, event-time TTL, bounded memory, honest counters."""

from __future__ import annotations

import numpy as np

from detector.labels.join import JoinStats, JoinStore


def _balanced(stats: JoinStats) -> bool:
    """Every prediction and label is accounted for exactly once."""
    predictions = (
        stats.matched
        + stats.expired_predictions
        + stats.evicted_predictions
        + stats.pending_predictions
    )
    labels = stats.matched + stats.unmatched_labels + stats.pending_labels
    return predictions + labels == stats.predictions + stats.labels - stats.duplicates


def test_pair_is_emitted_when_second_half_arrives_either_way() -> None:
    """A label first or a prediction first: the pair comes out with the arrival of the second,
    with the prediction's class probabilities when it has them."""
    store = JoinStore(max_pending=100, ttl=600.0)

    assert store.add_label("a", 5.0, "1") is None
    early = store.add_prediction("a", 1.0, ("DE",), "0", 0.2)
    assert store.add_prediction("b", 6.0, ("FR",), "1", 0.9, [0.1, 0.9]) is None
    late = store.add_label("b", 9.0, "1")

    assert early == (1.0, 1.0, ("DE",), "0", "1", 0.2, None)
    assert late == (9.0, 6.0, ("FR",), "1", "1", 0.9, [0.1, 0.9])
    assert store.stats.matched == 2 and store.pending == 0


def test_ttl_runs_on_event_time_of_either_stream() -> None:
    """A half expires once the newest event time on either stream is past its time + ttl."""
    store = JoinStore(max_pending=100, ttl=60.0)
    store.add_prediction("a", 0.0, (), "1", 0.9)
    store.add_label("x", 10.0, "0")  # a label whose prediction never comes

    assert store.add_prediction("b", 60.0, (), "0", 0.1) is None  # exactly at ttl: still waits
    assert store.stats.expired_predictions == 0
    assert store.add_prediction("c", 60.5, (), "0", 0.1) is None

    assert store.stats.expired_predictions == 1  # "a"
    assert store.add_label("a", 61.0, "1") is None  # too late: it waits alone now
    store.add_prediction("d", 200.0, (), "1", 0.7)

    assert store.stats.unmatched_labels == 2  # "x" and the late "a"
    assert store.stats.expired_predictions == 3  # "a", "b", "c"
    assert _balanced(store.stats)


def test_record_older_than_the_horizon_is_counted_not_stored() -> None:
    """A prediction already more than ttl behind the clock expires on arrival."""
    store = JoinStore(max_pending=100, ttl=10.0)
    store.add_label("now", 100.0, "1")

    store.add_prediction("old", 50.0, (), "1", 0.9)

    assert store.stats.expired_predictions == 1
    assert store.stats.pending_predictions == 0


def test_capacity_evicts_oldest_event_time_first() -> None:
    """When full, the half with the oldest event time leaves, whatever the insertion order."""
    store = JoinStore(max_pending=3, ttl=1e9)
    store.add_prediction("p5", 5.0, (), "1", 0.9)
    store.add_prediction("p1", 1.0, (), "1", 0.9)
    store.add_label("l3", 3.0, "1")

    store.add_prediction("p9", 9.0, (), "1", 0.9)  # evicts p1 (time 1)
    store.add_prediction("p8", 8.0, (), "1", 0.9)  # evicts l3 (time 3)

    assert store.stats.evicted_predictions == 1
    assert store.stats.unmatched_labels == 1
    assert store.add_label("p5", 10.0, "0") is not None  # p5 survived
    assert store.add_label("p1", 10.0, "0") is None  # p1 was evicted
    assert store.pending <= 3


def test_duplicates_keep_the_first_half() -> None:
    """A redelivered half with an id already waiting is dropped and counted."""
    store = JoinStore(max_pending=10, ttl=100.0)
    store.add_prediction("a", 1.0, (), "1", 0.9)
    store.add_prediction("a", 2.0, (), "0", 0.1)

    pair = store.add_label("a", 3.0, "1")

    assert pair is not None and pair[3] == "1" and pair[1] == 1.0
    assert store.stats.duplicates == 1
    assert _balanced(store.stats)


def test_memory_stays_bounded_on_a_long_stream() -> None:
    """200k predictions, a quarter of labels lost: waiting halves and the heap stay bounded."""
    rng = np.random.default_rng(3)
    store = JoinStore(max_pending=5_000, ttl=30.0)
    n = 200_000
    delays = rng.uniform(0.0, 40.0, n)
    lost = rng.random(n) < 0.25
    arrivals = sorted(
        [(i * 0.01, 0, i) for i in range(n)]
        + [(i * 0.01 + delays[i], 1, i) for i in range(n) if not lost[i]]
    )
    heap_peak = 0
    for when, side, i in arrivals:
        if side == 0:
            store.add_prediction(str(i), when, (), "1", 0.5)
        else:
            store.add_label(str(i), when, "1")
        heap_peak = max(heap_peak, len(store._heap))

    stats = store.stats
    assert stats.peak_pending <= 5_000
    assert heap_peak <= 2 * 5_000 + 1024 + 1
    assert stats.expired_predictions + stats.evicted_predictions > 0.25 * n
    assert _balanced(stats)
