"""The engine's first stage: a decoded micro-batch in, one chunk per state unit out.

Stateless but for the segment router's cap (the first ``max_values`` values of a dimension get
their own series; with several workers each applies the cap to what it reads first).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detector.chunks import Chunk, PerformanceChunk, Predictions, SeriesChunk, StreamChunk
from detector.config import Config
from detector.events import EventBatch
from detector.labels.decode import LabelBatch, prediction_halves, with_derived_fields
from detector.labels.merge import EVENTS, concat_events
from detector.segments import SegmentRouter


class Splitter:
    """Cuts batches into chunks: the stream unit's, then each series' in config order."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.fields = config.monitored_fields() + config.derived_fields()
        self.router = SegmentRouter(config.segments)
        self.rows = 0  # rows numbered so far: chunks carry stream-wide row numbers

    def _number(self, size: int) -> np.ndarray:
        rows = self.rows + np.arange(size, dtype=np.int64)
        self.rows += size
        return rows

    def split(self, batch: EventBatch, rows: np.ndarray | None = None) -> list[Chunk]:
        """The batch's chunks; ``rows`` numbers its rows (default: the next stream rows)."""
        if batch.size == 0:
            return []
        batch = with_derived_fields(batch, self.config)
        rows = self._number(batch.size) if rows is None else rows
        capped = self.router.capped(batch.segments)
        samples = [(row, sorted(paths)) for row, paths in batch.schema_samples]
        chunks: list[Chunk] = [StreamChunk(rows, batch.times, capped, samples)]
        order = 0
        groups = self.router.groups(batch.size, capped)  # the same rows for every field
        for spec in self.fields:
            errors_column = batch.type_errors[spec.name]
            for dimension, value, members in groups:
                order += 1
                chunk = SeriesChunk(
                    key=(spec.name, dimension, value),
                    order=order,
                    rows=rows[members],
                    times=batch.times[members],
                    errors=errors_column[members],
                )
                if spec.type == "numeric":
                    chunk.numeric = batch.numeric[spec.name][members]
                else:
                    column = batch.categorical[spec.name]
                    chunk.categories = [column[r] for r in members.tolist()]
                chunks.append(chunk)
        return chunks

    def split_runs(self, runs: Sequence[tuple[int, EventBatch | LabelBatch]]) -> list[Chunk]:
        """Merged runs of events and labels (:mod:`detector.labels.merge`): the performance
        chunk keeps their order; the data chunks take all the events at once, rows numbered
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
        chunks: list[Chunk] = [PerformanceChunk(performance)]
        if events:
            chunks += self.split(concat_events(events), np.concatenate(event_rows))
        return chunks

    def _predictions(self, batch: EventBatch) -> Predictions:
        predicted, scores = prediction_halves(batch, self.config)
        # Capping here first is harmless: split() caps the same values the same way.
        capped = self.router.capped(batch.segments)
        columns = [capped[s.name] for s in self.config.segments]
        return Predictions(batch.ids, batch.times, predicted, scores, columns)
