"""The one order in which the inference and label streams reach the engine.

Joined pairs, and so performance alerts, depend on the order of records across the two
streams. ``run`` and ``replay --labels`` both use this merge, so they give identical alerts for
the same two sequences (one partition each in ``run``):

    repeatedly take the head of the stream whose head has the smaller event time (the events
    stream on a tie); each stream keeps its own order, even where its times go backwards.

The merge can only pick when both streams have a head. When one is empty, the other waits,
unless the empty one has *ended*: its file is exhausted (``replay``), or every assigned
partition of its topic is at its end offset (``run``). Then the other stream flows freely.

Streams are pushed as decoded batches and released as runs: ``(EVENTS, EventBatch)`` or
``(LABELS, LabelBatch)`` slices, each carrying whatever the caller attached per row (Kafka
coordinates, for offsets).

>>> merger = Merger()
>>> merger.push(EVENTS, _labels([0.0, 2.0, 5.0]), [10, 11, 12])
>>> merger.push(LABELS, _labels([1.0, 2.0]), [20, 21])
>>> [(side, tags) for side, _, tags in merger.release(ended=(False, False))]
[(0, [10]), (1, [20]), (0, [11]), (1, [21])]
>>> [(side, tags) for side, _, tags in merger.release(ended=(False, True))]
[(0, [12])]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from detector.columns import Categories
from detector.events import EventBatch
from detector.labels.decode import LabelBatch

EVENTS, LABELS = 0, 1
T = TypeVar("T")


def slice_events(batch: EventBatch, start: int, stop: int) -> EventBatch:
    """Rows ``start:stop`` of a decoded batch (schema samples re-indexed)."""
    if start == 0 and stop == batch.size:
        return batch
    part = slice(start, stop)
    return EventBatch(
        positions=batch.positions[part],
        times=batch.times[part],
        ids=batch.ids[part],
        segments={k: v[part] for k, v in batch.segments.items()},
        numeric={k: v[part] for k, v in batch.numeric.items()},
        type_errors={k: v[part] for k, v in batch.type_errors.items()},
        categorical={k: v[part] for k, v in batch.categorical.items()},
        schema_samples=[(r - start, p) for r, p in batch.schema_samples if start <= r < stop],
    )


def concat_events(batches: list[EventBatch]) -> EventBatch:
    """One batch of several, rows in order (schema samples re-indexed)."""
    if len(batches) == 1:
        return batches[0]
    first = batches[0]
    offsets = np.cumsum([0] + [b.size for b in batches]).tolist()
    return EventBatch(
        positions=[p for b in batches for p in b.positions],
        times=np.concatenate([b.times for b in batches]),
        ids=[i for b in batches for i in b.ids],
        segments={k: Categories.concat([b.segments[k] for b in batches]) for k in first.segments},
        numeric={k: np.concatenate([b.numeric[k] for b in batches]) for k in first.numeric},
        type_errors={
            k: np.concatenate([b.type_errors[k] for b in batches]) for k in first.type_errors
        },
        categorical={
            k: Categories.concat([b.categorical[k] for b in batches]) for k in first.categorical
        },
        schema_samples=[
            (row + offset, paths)
            for b, offset in zip(batches, offsets, strict=False)
            for row, paths in b.schema_samples
        ],
    )


def slice_labels(batch: LabelBatch, start: int, stop: int) -> LabelBatch:
    """Rows ``start:stop`` of a label batch."""
    if start == 0 and stop == batch.size:
        return batch
    part = slice(start, stop)
    return LabelBatch(batch.positions[part], batch.times[part], batch.ids[part], batch.values[part])


@dataclass
class _Chunk(Generic[T]):
    batch: Any  # EventBatch or LabelBatch
    tags: list[T]
    cursor: int = 0

    @property
    def left(self) -> int:
        return len(self.tags) - self.cursor

    def head(self) -> float:
        return float(self.batch.times[self.cursor])

    def take(self, stop: int) -> tuple[Any, list[T]]:
        start, self.cursor = self.cursor, stop
        cut = slice_events if isinstance(self.batch, EventBatch) else slice_labels
        return cut(self.batch, start, stop), self.tags[start:stop]


class Merger(Generic[T]):
    """Queues of both streams' decoded rows; :meth:`release` hands out runs in merge order."""

    def __init__(self) -> None:
        self._queues: tuple[deque[_Chunk[T]], deque[_Chunk[T]]] = (deque(), deque())

    def push(self, side: int, batch: EventBatch | LabelBatch, tags: list[T]) -> None:
        """Queue a decoded batch of one stream; ``tags`` has one entry per accepted row."""
        if len(tags) != batch.size:
            raise ValueError("one tag per row")
        if tags:
            self._queues[side].append(_Chunk(batch, tags))

    def waiting(self, side: int) -> int:
        """Rows of ``side`` queued and not released yet."""
        return sum(chunk.left for chunk in self._queues[side])

    def tags(self, side: int) -> list[T]:
        """The tags of the rows still queued on ``side``, in order."""
        return [tag for chunk in self._queues[side] for tag in chunk.tags[chunk.cursor :]]

    def release(self, ended: tuple[bool, bool]) -> list[tuple[int, Any, list[T]]]:
        """Runs ``(side, batch slice, tags)`` in merge order, as far as the queues allow.

        ``ended[side]``: no more rows will come on that side for now (file exhausted, or its
        partitions at their end offsets), so the other side need not wait for it.
        """
        runs: list[tuple[int, Any, list[T]]] = []
        events, labels = self._queues
        while events or labels:
            if events and labels:
                head_labels = labels[0].head()
                chunk = events[0]
                times = chunk.batch.times[chunk.cursor :]
                if times[0] <= head_labels:  # events up to (not incl.) the first later one
                    stop, side = chunk.cursor + _first(times > head_labels), EVENTS
                else:
                    chunk = labels[0]
                    times = chunk.batch.times[chunk.cursor :]
                    head_events = events[0].head()
                    stop, side = chunk.cursor + _first(times >= head_events), LABELS
            elif events and ended[LABELS]:
                chunk, side = events[0], EVENTS
                stop = len(chunk.tags)
            elif labels and ended[EVENTS]:
                chunk, side = labels[0], LABELS
                stop = len(chunk.tags)
            else:
                break
            batch, tags = chunk.take(stop)
            runs.append((side, batch, tags))
            if chunk.left == 0:
                self._queues[side].popleft()
        return runs


def _first(mask: np.ndarray) -> int:
    """Index of the first True, or the length when there is none."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else len(mask)


def _labels(times: list[float]) -> LabelBatch:
    """A label batch with only times (for the doctest)."""
    n = len(times)
    return LabelBatch(list(range(n)), np.asarray(times), [str(i) for i in range(n)], ["1"] * n)
