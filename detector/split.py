"""The engine's first stage: a decoded micro-batch in, columns and chunks per state unit out.

A batch becomes one :class:`~detector.chunks.Slice` (its columns, segment values capped), which
:func:`partition_slices` cuts into the shares of the repartition partitions that own its units,
and :func:`slice_chunks` into one chunk per unit: the stream unit's, then each series' in config
order. ``replay`` cuts the whole slice at once; the Kafka worker sends each partition its share
and cuts it on arrival, for the units it owns.

Stateless but for the segment router's cap (the first ``max_values`` values of a dimension get
their own series; with several workers each applies the cap to what it reads first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from detector.chunks import (
    PERFORMANCE_UNIT,
    STREAM_UNIT,
    Chunk,
    PerformanceChunk,
    Predictions,
    SeriesChunk,
    Slice,
    StreamChunk,
    UnitKey,
    unit_partition,
)
from detector.config import Config
from detector.events import EventBatch
from detector.labels.decode import LabelBatch, prediction_halves, with_derived_fields
from detector.labels.merge import EVENTS, concat_events
from detector.segments import SegmentRouter, segment_groups


class Splitter:
    """Turns batches into slices; numbers their rows across the stream."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.fields = config.monitored_fields() + config.derived_fields()
        self.router = SegmentRouter(config.segments)
        self.rows = 0  # rows numbered so far: chunks carry stream-wide row numbers

    def _number(self, size: int) -> np.ndarray:
        rows = self.rows + np.arange(size, dtype=np.int64)
        self.rows += size
        return rows

    def slice(self, batch: EventBatch, rows: np.ndarray | None = None) -> Slice:
        """The whole batch as columns; ``rows`` numbers its rows (default: the next ones)."""
        batch = with_derived_fields(batch, self.config)
        names = [f.name for f in self.fields]
        return Slice(
            rows=self._number(batch.size) if rows is None else rows,
            times=batch.times,
            segments=self.router.capped(batch.segments),
            numeric={n: batch.numeric[n] for n in names if n in batch.numeric},
            categorical={n: batch.categorical[n] for n in names if n in batch.categorical},
            errors={n: batch.type_errors[n] for n in names},
            schema_samples=[(row, sorted(paths)) for row, paths in batch.schema_samples],
        )

    def split(self, batch: EventBatch, rows: np.ndarray | None = None) -> list[Chunk]:
        """The batch's chunks, every unit's."""
        if batch.size == 0:
            return []
        return slice_chunks(self.config, self.slice(batch, rows))

    def slice_runs(self, runs: Sequence[tuple[int, EventBatch | LabelBatch]]) -> Slice:
        """Merged runs of events and labels (:mod:`detector.labels.merge`): the performance
        chunk keeps their order; the event columns hold all the events at once, rows numbered
        in the merged order."""
        performance: list[tuple[int, Predictions | LabelBatch]] = []
        events: list[EventBatch] = []
        event_rows: list[np.ndarray] = []
        first = self.rows
        self.rows += sum(batch.size for _, batch in runs)
        for side, batch in runs:
            if side == EVENTS:
                assert isinstance(batch, EventBatch)
                performance.append((first, self._predictions(batch)))
                events.append(batch)
                event_rows.append(first + np.arange(batch.size))
            else:
                assert isinstance(batch, LabelBatch)
                performance.append((first, batch))
            first += batch.size
        if events:
            whole = self.slice(concat_events(events), np.concatenate(event_rows))
        else:
            whole = Slice(np.empty(0, np.int64), np.empty(0), {}, {}, {}, {})
        whole.performance = PerformanceChunk(performance)
        return whole

    def split_runs(self, runs: Sequence[tuple[int, EventBatch | LabelBatch]]) -> list[Chunk]:
        """The chunks of merged runs, every unit's."""
        return slice_chunks(self.config, self.slice_runs(runs))

    def _predictions(self, batch: EventBatch) -> Predictions:
        predicted, scores = prediction_halves(batch, self.config)
        # Capping here first is harmless: slice() caps the same values the same way.
        capped = self.router.capped(batch.segments)
        columns = [capped[s.name].texts() for s in self.config.segments]
        return Predictions(batch.ids, batch.times, predicted, scores, columns)


def _keep_all(key: UnitKey) -> bool:
    return True


def slice_chunks(
    config: Config, part: Slice, keep: Callable[[UnitKey], bool] = _keep_all
) -> list[Chunk]:
    """The chunks of the units in ``part`` that ``keep`` accepts: the stream unit's and the
    performance unit's, then each series' in config order (``order`` counts every series of
    the batch, kept or not, so alerts sort alike wherever their units are applied)."""
    chunks: list[Chunk] = []
    if part.performance is not None and keep(PERFORMANCE_UNIT):
        chunks.append(part.performance)
    if part.size == 0:
        return chunks
    if part.stream and keep(STREAM_UNIT):
        chunks.append(StreamChunk(part.rows, part.times, part.segments, part.schema_samples))
    groups = segment_groups(part.size, part.segments)
    order = 0
    for spec in config.monitored_fields() + config.derived_fields():
        for dimension, value, members in groups:
            order += 1
            if spec.name not in part.errors or not keep((spec.name, dimension, value)):
                continue
            chunks.append(SeriesChunk((spec.name, dimension, value), order, part, members))
    return chunks


def partition_slices(config: Config, whole: Slice, partitions: int) -> dict[int, Slice]:
    """Each repartition partition's share of ``whole``: all rows, with the columns of the fields
    that have a unit there (any of all traffic or a segment value present in the batch)."""
    groups = segment_groups(whole.size, whole.segments) if whole.size else []
    wanted: dict[int, set[str]] = {}
    for name in whole.errors:
        for dimension, value, _ in groups:
            wanted.setdefault(unit_partition((name, dimension, value), partitions), set()).add(name)
    stream = unit_partition(STREAM_UNIT, partitions)
    performance = unit_partition(PERFORMANCE_UNIT, partitions)
    if whole.size:
        wanted.setdefault(stream, set())
    if whole.performance is not None:
        wanted.setdefault(performance, set())
    return {
        p: Slice(
            rows=whole.rows,
            times=whole.times,
            segments=whole.segments,
            numeric={n: v for n, v in whole.numeric.items() if n in names},
            categorical={n: v for n, v in whole.categorical.items() if n in names},
            errors={n: v for n, v in whole.errors.items() if n in names},
            stream=p == stream,
            schema_samples=whole.schema_samples if p == stream else [],
            performance=whole.performance if p == performance else None,
        )
        for p, names in wanted.items()
    }
