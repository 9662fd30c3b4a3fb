"""A micro-batch cut into the shares of its state units, and which partition owns each unit.

A *unit* is state with one owner: each data series (model x feature x segment), the stream-wide
checks (volume, schema, silence), with labels the performance monitor and, with
``detection.joint``, one joint unit per segment (:mod:`detector.joint`), whose chunks are
series chunks over every joint field's column. The first stage of
the engine (:class:`detector.split.Splitter`) cuts each decoded batch into one chunk per unit;
the second stage (:meth:`detector.applier.Applier.apply`) updates the units. In one process the
chunks go straight from one to the other; the Kafka worker sends slices (:mod:`detector.slices`)
through a repartition topic instead, to the one worker that owns the unit, so every unit sees
all of its events, in key order (:mod:`detector.order`), however many partitions and workers
share the input. The performance unit's chunk is the :class:`~detector.slices.PerformanceTape`.

A unit's updates do not depend on how its events were cut into chunks; ``rows`` (sequence
numbers) only order the alerts of one apply.

>>> unit_partition(("amount", None, None), 12) == unit_partition(("amount", None, None), 12)
True
>>> unit_partition(STREAM_UNIT, 1)
0
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from detector.columns import Categories
from detector.order import Keys, unapplied
from detector.slices import PerformanceTape, Slice

UnitKey = tuple[str, str | None, str | None]  # (feature, dimension, value); specials below
STREAM_UNIT: UnitKey = ("#stream", None, None)
PERFORMANCE_UNIT: UnitKey = ("#performance", None, None)
JOINT = "#joint"  # the joint (multivariate) units: (JOINT, dimension, value)


def is_joint(key: UnitKey) -> bool:
    return key[0] == JOINT


def unit_partition(key: UnitKey, partitions: int) -> int:
    """The partition that owns a unit: a stable hash (not Python's salted ``hash``)."""
    text = "\x1f".join("" if part is None else part for part in key)
    return zlib.crc32(text.encode()) % partitions


@dataclass
class SeriesChunk:
    """One data series' events of a slice: the slice's columns, and which rows are the series'
    (the rows of a segment value are the same array for every field: nothing is copied)."""

    key: UnitKey
    order: int  # ties between alerts of the same row: series in config order
    part: Slice
    members: np.ndarray  # int64 indexes into the slice's rows, ascending

    @property
    def rows(self) -> np.ndarray:
        """The series' stream rows."""
        found: np.ndarray = self.part.rows[self.members]
        return found


@dataclass
class StreamChunk:
    """What the stream-wide checks need from a batch: every event's time and segments."""

    rows: np.ndarray
    times: np.ndarray
    segments: dict[str, Categories]  # capped segment values per dimension
    schema_samples: list[tuple[int, list[str]]] = field(default_factory=list)  # (index, paths)
    keys: Keys = field(default_factory=Keys.empty)

    def take(self, index: np.ndarray) -> StreamChunk:
        where = np.full(len(self.rows), -1, np.int64)
        where[index] = np.arange(len(index))
        return StreamChunk(
            self.rows[index],
            self.times[index],
            {d: c.take(index) for d, c in self.segments.items()},
            [(int(where[r]), p) for r, p in self.schema_samples if where[r] >= 0],
            self.keys.take(index),
        )


Chunk = SeriesChunk | StreamChunk | PerformanceTape


def without_applied(chunk: Chunk, applied: dict[int, int]) -> Chunk | None:
    """The chunk without the rows its unit applied before a restore (``applied``: the next
    offset per source its state covers); None when no row is left."""
    if isinstance(chunk, SeriesChunk):
        fresh = unapplied(chunk.part.keys.take(chunk.members), applied)
        if fresh is None:
            return chunk
        members = chunk.members[fresh]
        return SeriesChunk(chunk.key, chunk.order, chunk.part, members) if len(members) else None
    fresh = unapplied(chunk.keys, applied)
    if fresh is None:
        return chunk
    index = np.flatnonzero(fresh)
    if not len(index):
        return None
    return chunk.take(index)


def chunk_unit(chunk: Chunk) -> UnitKey:
    if isinstance(chunk, SeriesChunk):
        return chunk.key
    return STREAM_UNIT if isinstance(chunk, StreamChunk) else PERFORMANCE_UNIT
