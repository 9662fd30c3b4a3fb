"""The key order and the merge: one order however rows are partitioned, batched, delivered."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from detector.merge import MergeState, OrderedMerge
from detector.order import LABEL_SOURCES, Bound, Keys, partition_times
from detector.slices import Slice, sorted_runs


def _head_merge(streams: list[list[float]]) -> list[tuple[int, int]]:
    """Kafka Streams' partition group: take the head with the smallest time (lower partition
    first on a tie), each partition in its own order."""
    cursor = [0] * len(streams)
    out: list[tuple[int, int]] = []
    while True:
        best = None
        for source, times in enumerate(streams):
            if cursor[source] < len(times) and (
                best is None or times[cursor[source]] < streams[best][cursor[best]]
            ):
                best = source
        if best is None:
            return out
        out.append((best, cursor[best]))
        cursor[best] += 1


def _keys_of(source: int, times: list[float], first: int = 0) -> Keys:
    n = len(times)
    sources = np.full(n, source, np.int32)
    carry: dict[int, float] = {}
    ptimes = partition_times(sources, np.asarray(times, float), carry)
    return Keys(ptimes, sources, first + np.arange(n, dtype=np.int64))


def _part(keys: Keys, bounds: list[Bound] | None = None) -> Slice:
    n = len(keys)
    part = Slice(np.arange(n), keys.ptimes.copy(), {}, {}, {}, {}, keys=keys)
    part.bounds = bounds or []
    return part


def test_key_order_is_kafka_streams_head_order() -> None:
    """On random partitions with times that go backwards, sorting by (partition time, source,
    offset) gives the head-by-head merge's sequence exactly."""
    rng = random.Random(7)
    for _ in range(2000):
        streams = [
            [float(rng.randint(0, 6)) for _ in range(rng.randint(0, 6))]
            for _ in range(rng.randint(1, 4))
        ]
        keys = Keys.concat([_keys_of(s, t) for s, t in enumerate(streams)] or [Keys.empty()])
        order = keys.order()
        got = [(int(keys.sources[i]), int(keys.offsets[i])) for i in order]
        assert got == _head_merge(streams), streams


def test_partition_times_carry_across_batches() -> None:
    """A source's partition time continues from the previous batch of it."""
    carry: dict[int, float] = {}
    first = partition_times(np.array([0, 1, 0]), np.array([4.0, 2.0, 1.0]), carry)
    second = partition_times(np.array([1, 0]), np.array([1.0, 3.0]), carry)
    assert first.tolist() == [4.0, 2.0, 4.0] and second.tolist() == [2.0, 4.0]
    assert carry == {0: 4.0, 1: 2.0}


def _merged(
    streams: list[list[float]], chunk: int, rng: random.Random, resend: bool = False
) -> list[tuple[int, int]]:
    """Push every stream in chunks of ``chunk`` rows, interleaved at random, with the bounds a
    sender attaches; collect what the merge releases."""
    merge = OrderedMerge(range(len(streams)))
    queues = [
        [(a, streams[s][a : a + chunk]) for a in range(0, len(streams[s]), chunk)]
        for s in range(len(streams))
    ]
    ptimes = [-math.inf] * len(streams)
    out: list[tuple[int, int]] = []
    while any(queues):
        source = rng.choice([s for s, q in enumerate(queues) if q])
        first, times = queues[source].pop(0)
        keys = _keys_of(source, times, first)
        keys.ptimes = np.maximum(keys.ptimes, ptimes[source])
        ptimes[source] = float(keys.ptimes[-1]) if len(keys) else ptimes[source]
        end = first + len(times)
        at_end = not queues[source]
        merge.push(_part(keys, [Bound(ptimes[source], source, end, at_end)]))
        if resend and first:  # a new owner resends the previous chunk: dropped
            again = _keys_of(source, streams[source][first - chunk : first], first - chunk)
            merge.push(_part(again))
        for part in merge.release():
            out += _pairs(part)
    for part in merge.release():
        out += _pairs(part)
    return out


def _pairs(part: Slice) -> list[tuple[int, int]]:
    """(source, offset) of a released slice's rows."""
    return list(zip(part.keys.sources.tolist(), part.keys.offsets.tolist(), strict=True))


@pytest.mark.parametrize("chunk", [1, 7, 50])
def test_merge_releases_key_order_whatever_the_arrival(chunk: int) -> None:
    """Sources delivered in chunks, interleaved at random (and chunks resent by a new owner):
    the merge releases every row once, in key order."""
    rng = random.Random(chunk)
    streams = [[float(t) + rng.gauss(0, 3) for t in range(rng.randint(50, 150))] for _ in range(4)]
    expected = _head_merge(streams)
    assert _merged(streams, chunk, rng) == expected
    assert _merged(streams, chunk, rng, resend=True) == expected


def test_a_source_behind_holds_the_others_until_lag_wait() -> None:
    """Rows wait for a source that is behind; after ``lag_wait`` seconds the others go on and
    the pass is counted once. A source at its end holds nothing (idle_wait 0)."""
    merge = OrderedMerge([0, 1, 2], lag_wait=10.0)
    merge.push(_part(_keys_of(0, [1.0, 2.0, 3.0]), [Bound(3.0, 0, 3)]))
    merge.push(_part(Keys.empty(), [Bound(0.5, 1, 4)]))  # behind: its next row is later
    merge.push(_part(Keys.empty(), [Bound(-math.inf, 2, 0, at_end=True)]))
    assert merge.release(now=0.0) == []
    assert merge.release(now=9.0) == [] and merge.enforced == 0
    released = merge.release(now=10.0)
    assert [p.keys.offsets.tolist() for p in released] == [[0, 1, 2]]
    assert merge.enforced == 1 and merge.last_enforced == [1]
    merge.push(_part(_keys_of(1, [5.0], 4), [Bound(5.0, 1, 5)]))
    assert merge.release(now=11.0) == []  # source 0 is behind it now
    merge.end(0)
    assert [p.keys.offsets.tolist() for p in merge.release(now=11.0)] == [[4]]


def test_idle_wait_holds_rows_for_a_quiet_source() -> None:
    """With ``idle_wait`` a source at its end holds the others that long, then not."""
    merge = OrderedMerge([0, 1], idle_wait=2.0)
    merge.push(_part(_keys_of(0, [1.0, 2.0]), [Bound(2.0, 0, 2)]))
    merge.push(_part(Keys.empty(), [Bound(0.0, 1, 0, at_end=True)]))
    assert merge.release(now=0.0) == [] and merge.release(now=1.5) == []
    assert [p.size for p in merge.release(now=2.0)] == [2]
    assert merge.enforced == 0


def test_checkpoint_resumes_the_same_order() -> None:
    """A merge restarted from its checkpoint, reading from the checkpoint's record on, releases
    what an uninterrupted one releases after that point."""
    rng = random.Random(3)
    streams = [[float(t) + rng.gauss(0, 2) for t in range(60)] for _ in range(3)]
    records: list[Slice] = []
    for first in range(0, 60, 10):
        for source in (2, 0, 1):
            keys = _keys_of(source, streams[source][: first + 10])
            keys = keys.take(slice(first, first + 10))
            records.append(_part(keys, [Bound(float(keys.ptimes[-1]), source, first + 10)]))
    whole = OrderedMerge([0, 1, 2])
    released: list[tuple[int, int]] = []
    checkpoint: tuple[int | None, MergeState] | None = None
    done_at = 0
    for tag, record in enumerate(records):
        whole.push(record, tag)
        for part in whole.release():
            released += list(
                zip(part.keys.sources.tolist(), part.keys.offsets.tolist(), strict=False)
            )
        if tag == 8:
            checkpoint, done_at = whole.checkpoint(), len(released)
    assert checkpoint is not None and checkpoint[0] is not None
    resumed = OrderedMerge([0, 1, 2], state=checkpoint[1])
    after: list[tuple[int, int]] = []
    for record in records[checkpoint[0] :]:
        resumed.push(record)
        for part in resumed.release():
            after += _pairs(part)
    assert after[-(len(released) - done_at) :] == released[done_at:]
    assert set(after) <= set(released) and len(after) >= len(released) - done_at


def test_sorted_runs_are_views_of_each_partitions_run() -> None:
    """A batch consumed partition by partition is cut into its runs, without a copy; too many
    runs, and it is sorted instead."""
    times = np.arange(6.0)
    keys = Keys.concat([_keys_of(1, [3.0, 4.0, 5.0]), _keys_of(0, [0.0, 1.0, 2.0])])
    part = Slice(np.arange(6), times, {}, {"x": times}, {}, {"x": np.zeros(6, bool)}, keys=keys)
    runs = sorted_runs(part)
    assert [r.keys.sources.tolist() for r in runs] == [[1, 1, 1], [0, 0, 0]]
    assert all(np.shares_memory(r.numeric["x"], part.numeric["x"]) for r in runs)
    many = sorted_runs(part, most=1)
    assert len(many) == 1 and many[0].keys.is_sorted()


def test_held_rows_per_source_and_a_forgotten_source() -> None:
    """What waits in the merge, per source (first key, count); a source forgotten (its
    partition revoked) takes its queued rows with it and holds nothing back any more."""
    merge = OrderedMerge([0, 1])
    merge.push(_part(_keys_of(0, [1.0, 2.0, 3.0]), [Bound(3.0, 0, 3)]))
    assert merge.release() == [] and merge.held() == {0: ((1.0, 0, 0), 3)}
    merge.push(_part(_keys_of(1, [2.5], 0), [Bound(2.5, 1, 1)]))
    assert [_pairs(p) for p in merge.release()] == [[(0, 0), (0, 1)], [(1, 0)]]
    assert merge.held() == {0: ((3.0, 0, 2), 1)}
    merge.push(_part(_keys_of(1, [9.0], 1), [Bound(9.0, 1, 2)]))
    merge.forget(0)
    assert [_pairs(p) for p in merge.release()] == [[(1, 1)]]
    assert merge.held() == {} and merge.pending() == 0


def test_split_rows_keeps_each_pieces_labels_between_its_events() -> None:
    """A merged slice of events and labels cut into pieces of at most 2 events: each piece's
    tape holds the labels that come before its last event, so the pieces in turn are the
    slice."""
    from detector.slices import PerformanceTape, split_rows

    events = _keys_of(0, [1.0, 3.0, 5.0, 7.0, 9.0])
    labels = _keys_of(LABEL_SOURCES, [0.5, 2.0, 6.0, 10.0])
    tape_keys = Keys.concat([events, labels])
    order = tape_keys.order()
    tape_keys = tape_keys.take(order)
    n = len(tape_keys)
    is_label = tape_keys.sources == LABEL_SOURCES
    tape = PerformanceTape(
        np.arange(n),
        tape_keys,
        is_label,
        [None] * n,
        tape_keys.ptimes,
        [None] * n,
        np.full(n, np.nan),
        [],
    )
    part = _part(events)
    part.performance = tape
    pieces = split_rows(part, 2)
    assert [p.size for p in pieces] == [2, 2, 1]
    assert [p.performance.keys.ptimes.tolist() for p in pieces if p.performance] == [
        [0.5, 1.0, 2.0, 3.0],
        [5.0, 6.0, 7.0],
        [9.0, 10.0],
    ]
