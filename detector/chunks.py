"""A micro-batch cut into the shares of its state units, and which partition owns each unit.

A *unit* is state with one owner: each data series (model x feature x segment), the stream-wide
checks (volume, schema, silence) and, with labels, the performance monitor. The first stage of
the engine (:class:`detector.split.Splitter`) cuts each decoded batch into one chunk per unit;
the second stage (:meth:`detector.engine.Engine.apply`) updates the units. In one process the
chunks go straight from one to the other; the Kafka worker sends them through a repartition
topic instead, to the one worker that owns the unit, so every unit sees all of its events
however many partitions and workers share the input (:mod:`detector.kafka.topology`).

``rows`` number the events of the splitter's whole stream, so alerts come out in the same order
whether chunks are applied one batch at a time or merged (:func:`merge_chunks`): a unit's
updates do not depend on how its events were cut into chunks.

>>> unit_partition(("amount", None, None), 12) == unit_partition(("amount", None, None), 12)
True
>>> unit_partition(STREAM_UNIT, 1)
0
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
    """One data series' values from a batch."""

    key: UnitKey
    order: int  # ties between alerts of the same row: series in config order
    rows: np.ndarray  # int64 rows in the origin batch
    times: np.ndarray
    errors: np.ndarray  # type errors (bool)
    numeric: np.ndarray | None = None
    categories: Categories | None = None


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


def merge_chunks(chunks: Sequence[Chunk]) -> list[Chunk]:
    """One chunk per unit, its parts concatenated in order (units in first-seen order)."""
    groups: dict[UnitKey, list[Chunk]] = {}
    for chunk in chunks:
        groups.setdefault(chunk_unit(chunk), []).append(chunk)
    return [parts[0] if len(parts) == 1 else _concat(parts) for parts in groups.values()]


def _concat(parts: list[Any]) -> Chunk:
    first = parts[0]
    if isinstance(first, SeriesChunk):
        return SeriesChunk(
            key=first.key,
            order=first.order,
            rows=np.concatenate([p.rows for p in parts]),
            times=np.concatenate([p.times for p in parts]),
            errors=np.concatenate([p.errors for p in parts]),
            numeric=None if first.numeric is None else np.concatenate([p.numeric for p in parts]),
            categories=None
            if first.categories is None
            else Categories.concat([p.categories for p in parts]),
        )
    if isinstance(first, StreamChunk):
        offsets = np.cumsum([0] + [len(p.rows) for p in parts]).tolist()
        return StreamChunk(
            rows=np.concatenate([p.rows for p in parts]),
            times=np.concatenate([p.times for p in parts]),
            segments={d: Categories.concat([p.segments[d] for p in parts]) for d in first.segments},
            schema_samples=[
                (index + offset, paths)
                for p, offset in zip(parts, offsets, strict=False)
                for index, paths in p.schema_samples
            ],
        )
    return PerformanceChunk([run for p in parts for run in p.runs])


def chunk_unit(chunk: Chunk) -> UnitKey:
    if isinstance(chunk, SeriesChunk):
        return chunk.key
    return STREAM_UNIT if isinstance(chunk, StreamChunk) else PERFORMANCE_UNIT
