"""The one order in which every unit sees its rows, however the input is partitioned.

Each input row has a *key*: ``(partition time, source, offset)``. The *source* is where the
row came from (events partition ``p`` is source ``p``; labels partition ``p`` is
``LABEL_SOURCES + p``; ``replay`` reads the events file as source 0 and the labels file as
``LABEL_SOURCES``), the *offset* its position there, and its *partition time* the largest event
time its source has shown up to and including the row (Kafka Streams' "partition time").
Every unit applies its rows in key order.

That order is the one Kafka Streams' partition group picks, "always the head record with the
smallest timestamp, each partition in its own order" (lower sources first on a tie): taking
heads by their time and sorting by the running maximum give the same sequence, even where a
partition's times go backwards (``tests/test_order.py`` checks it on random streams). But a
key is known from its own partition alone, so the order does not depend on which worker reads
which partition, on fetch sizes, on batching or on restarts (the partition time at a committed
offset is committed with it, as Kafka Streams does).

A :class:`Bound` says where a source stands: every row of it not seen yet has a key at or
after ``(ptime, source, next offset)``. :class:`OrderedMerge` (:mod:`detector.merge`) releases
rows once every source's bound is past them.

>>> carry = {}
>>> partition_times(np.array([0, 0, 1, 0]), np.array([5.0, 3.0, 1.0, 7.0]), carry).tolist()
[5.0, 5.0, 1.0, 7.0]
>>> carry
{0: 7.0, 1: 1.0}
>>> keys = Keys(np.array([5.0, 5.0, 1.0]), np.array([0, 0, 1], np.int32), np.array([0, 1, 0]))
>>> keys.order().tolist(), keys.before((5.0, 0, 1)).tolist()
([2, 0, 1], [True, False, True])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LABEL_SOURCES = 1 << 20  # labels partition p is source LABEL_SOURCES + p
NO_TIME = -math.inf  # the partition time of a source before its first row

Key = tuple[float, int, int]  # partition time, source, offset


@dataclass(frozen=True)
class Bound:
    """A source's position: its rows not seen yet come at or after ``key``; ``at_end``: it has
    no more rows for now (its partitions reached their end offset, its file is exhausted)."""

    ptime: float
    source: int
    offset: int  # the next offset
    at_end: bool = False

    @property
    def key(self) -> Key:
        return (self.ptime, self.source, self.offset)

    def advanced(self, other: Bound) -> Bound:
        """The later of two reports about one source (a newer owner may resend older rows)."""
        return other if (other.offset, other.ptime) >= (self.offset, self.ptime) else self


def partition_times(sources: np.ndarray, times: np.ndarray, carry: dict[int, float]) -> np.ndarray:
    """Each row's partition time, rows of each source in offset order; ``carry`` holds each
    source's partition time before these rows and is updated in place."""
    out = np.empty(len(times), np.float64)
    if not len(times):
        return out
    first = int(sources[0])
    if (sources == first).all():  # the usual case: one source
        out[:] = np.maximum.accumulate(times)
        np.maximum(out, carry.get(first, NO_TIME), out=out)
        carry[first] = float(out[-1])
        return out
    for source in np.unique(sources).tolist():
        rows = np.flatnonzero(sources == source)
        run = np.maximum.accumulate(times[rows])
        np.maximum(run, carry.get(source, NO_TIME), out=run)
        out[rows] = run
        carry[source] = float(run[-1])
    return out


@dataclass
class Keys:
    """The keys of a run of rows, one array per component."""

    ptimes: np.ndarray  # float64
    sources: np.ndarray  # int32
    offsets: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.offsets)

    def order(self) -> np.ndarray:
        """Row indexes in key order."""
        return np.lexsort((self.offsets, self.sources, self.ptimes))

    def is_sorted(self) -> bool:
        if len(self) < 2:
            return True
        return bool(self.before_next().all())

    def before_next(self) -> np.ndarray:
        """Whether each row's key is smaller than the next row's."""
        pt, src, off = self.ptimes, self.sources, self.offsets
        ahead: np.ndarray = (pt[:-1] < pt[1:]) | (
            (pt[:-1] == pt[1:])
            & ((src[:-1] < src[1:]) | ((src[:-1] == src[1:]) & (off[:-1] < off[1:])))
        )
        return ahead

    def before(self, key: Key) -> np.ndarray:
        """Whether each row's key is smaller than ``key``."""
        ptime, source, offset = key
        pt, src = self.ptimes, self.sources
        below: np.ndarray = (pt < ptime) | (
            (pt == ptime) & ((src < source) | ((src == source) & (self.offsets < offset)))
        )
        return below

    def count_before(self, key: Key) -> int:
        """How many rows come before ``key`` (the rows are in key order)."""
        if not len(self) or key[0] == math.inf:
            return len(self)
        # Rows of smaller partition time are all before; among equal ones, compare the rest.
        low = int(np.searchsorted(self.ptimes, key[0], side="left"))
        high = int(np.searchsorted(self.ptimes, key[0], side="right"))
        if low == high:
            return low
        tied = Keys(self.ptimes[low:high], self.sources[low:high], self.offsets[low:high])
        return low + int(tied.before(key).sum())

    def first(self) -> Key:
        return (float(self.ptimes[0]), int(self.sources[0]), int(self.offsets[0]))

    def last(self) -> Key:
        return (float(self.ptimes[-1]), int(self.sources[-1]), int(self.offsets[-1]))

    def take(self, index: np.ndarray | slice) -> Keys:
        return Keys(self.ptimes[index], self.sources[index], self.offsets[index])

    @staticmethod
    def concat(parts: list[Keys]) -> Keys:
        return Keys(
            np.concatenate([k.ptimes for k in parts]),
            np.concatenate([k.sources for k in parts]),
            np.concatenate([k.offsets for k in parts]),
        )

    @staticmethod
    def empty() -> Keys:
        return Keys(np.empty(0), np.empty(0, np.int32), np.empty(0, np.int64))


def unapplied(keys: Keys, applied: dict[int, int]) -> np.ndarray | None:
    """Rows a unit has not applied yet, given the next offset it applied per source; None when
    that is every row (the usual case: only rows replayed after a restore are old)."""
    if not applied or not len(keys):
        return None
    sources = keys.sources
    watermark = np.zeros(len(keys), np.int64)
    seen = False
    for source, offset in applied.items():
        rows = sources == source
        if rows.any():
            watermark[rows] = offset
            seen = True
    if not seen:
        return None
    fresh = keys.offsets >= watermark
    return None if fresh.all() else fresh
