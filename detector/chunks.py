"""A micro-batch cut into the shares of its state units, and which partition owns each unit.

A *unit* is state with one owner: each data series (model x feature x segment), the stream-wide
checks (volume, schema, silence) and, with labels, the performance monitor. The first stage of
the engine (:class:`detector.split.Splitter`) cuts each decoded batch into one chunk per unit;
the second stage (:meth:`detector.engine.Engine.apply`) updates the units. In one process the
chunks go straight from one to the other; the Kafka worker sends them through a repartition
topic instead, to the one worker that owns the unit, so every unit sees all of its events
however many partitions and workers share the input (:mod:`detector.kafka.topology`).

``rows`` number the events of the splitter's whole stream, so alerts come out in the same order
whether chunks are applied one batch at a time or many at once: a unit's updates do not depend
on how its events were cut into chunks.

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
from detector.labels.decode import LabelBatch, Value

UnitKey = tuple[str, str | None, str | None]  # (feature, dimension, value); specials below
STREAM_UNIT: UnitKey = ("#stream", None, None)
PERFORMANCE_UNIT: UnitKey = ("#performance", None, None)


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


@dataclass
class Predictions:
    """The prediction halves of a batch's events, for the label join."""

    ids: list[str | None]
    times: np.ndarray
    predicted: list[Value | None]
    scores: np.ndarray
    segments: list[list[str]]  # capped values, one list per dimension


@dataclass
class PerformanceChunk:
    """Predictions and labels in the order they met the join, each run with its first row."""

    runs: list[tuple[int, Predictions | LabelBatch]]


Chunk = SeriesChunk | StreamChunk | PerformanceChunk


@dataclass
class Slice:
    """A micro-batch column by column, as far as one repartition partition's units need it.

    Every event's stream row, time and (capped) segment values; the columns of the fields that
    have a unit in the partition; the schema samples if it owns the stream unit, and the
    performance chunk if it owns that one. :func:`detector.split.slice_chunks` cuts it into the
    chunks of the units a worker applies. One slice of the whole batch is what ``replay`` cuts.
    """

    rows: np.ndarray  # int64 stream rows
    times: np.ndarray
    segments: dict[str, Categories]
    numeric: dict[str, np.ndarray]
    categorical: dict[str, Categories]
    errors: dict[str, np.ndarray]  # type errors of every field above
    stream: bool = True  # holds the stream unit's share (the samples below)
    schema_samples: list[tuple[int, list[str]]] = field(default_factory=list)  # (index, paths)
    performance: PerformanceChunk | None = None

    @property
    def size(self) -> int:
        return len(self.rows)


def chunk_unit(chunk: Chunk) -> UnitKey:
    if isinstance(chunk, SeriesChunk):
        return chunk.key
    return STREAM_UNIT if isinstance(chunk, StreamChunk) else PERFORMANCE_UNIT
