"""Stage two of the engine: chunks in, units updated, alert events out.

Stage one (:class:`detector.split.Splitter`) cuts each decoded batch into one chunk per unit;
:class:`Applier` updates each chunk's unit (:class:`detector.units.Units`) and ranks the
alerts by (origin row, data before performance, series order), as if the whole batch had been
processed at once. Data series of one round update in parallel, in Rust
(:mod:`detector.series.batch`).

Alerts only depend on the order of events within each unit, never on how the stream was cut
into chunks, and carry no wall-clock data, so ``run`` (Kafka) and ``replay`` (files) give
identical alerts for the same input. A unit whose update raises is replaced by a fresh one: no
input stops the engine.

**Labels.** With a ``label`` section, each slice carries a tape of predictions and labels in
key order (:mod:`detector.order`), which the performance unit joins in that order
(:mod:`detector.labels.monitor`); the data series see the events in the same order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from detector.alerts import AlertEvent, build_alert
from detector.chunks import (
    STREAM_UNIT,
    Chunk,
    SeriesChunk,
    StreamChunk,
    UnitKey,
    chunk_unit,
    is_joint,
)
from detector.joint import FEATURE as JOINT_FEATURE
from detector.series.batch import rounds, update_series
from detector.slices import PerformanceTape
from detector.units import Units

log = logging.getLogger("detector.engine")
RECENT_ALERTS = 1000  # alerts kept for the drift report

Ranked = tuple[int, int, int, AlertEvent]  # origin row, 0 data / 1 performance, order, alert


@dataclass
class ApplyStats:
    """Stage two's running totals."""

    alerts_firing: int = 0
    alerts_resolved: int = 0
    units_reset: int = 0  # units whose update raised, replaced by fresh ones


class Applier:
    """Applies chunks to ``units``, the only thing that changes them."""

    def __init__(self, units: Units) -> None:
        self.units = units
        self.model = units.config.model
        self.threads = units.config.run.series_threads()
        self.stats = ApplyStats()
        self.recent_alerts: deque[AlertEvent] = deque(maxlen=RECENT_ALERTS)  # for the report

    def apply(self, chunks: Iterable[Chunk]) -> list[AlertEvent]:
        """Update each chunk's unit; the alerts in stream order (see the module docstring)."""
        ranked: list[Ranked] = []
        series_chunks: list[SeriesChunk] = []
        for chunk in chunks:
            key = chunk_unit(chunk)
            self.units.touch(key)
            if isinstance(chunk, SeriesChunk) and not is_joint(key):
                series_chunks.append(chunk)
                continue
            for attempt in (1, 2):  # a fresh unit takes the rows its broken one failed on
                try:
                    ranked += self._apply_other(chunk)
                    break
                except Exception as exc:
                    self._reset(key, exc, retry=attempt == 1)
        for round_ in rounds(series_chunks):
            ranked += update_series(
                round_, self.units.series_of, self._reset, self.model, self.threads
            )
        ranked.sort(key=lambda item: item[:3])
        return self._count([alert for *_, alert in ranked])

    def _apply_other(self, chunk: Chunk) -> list[Ranked]:
        """The stream unit's, the performance unit's or a joint unit's update."""
        if isinstance(chunk, SeriesChunk):
            return self._apply_joint(chunk)
        if isinstance(chunk, StreamChunk):
            return [(row, 0, 0, alert) for row, alert in self.units.stream_unit().update(chunk)]
        assert isinstance(chunk, PerformanceTape)
        performance = self.units.performance_unit()
        return [
            (o.row, 1, o.order, build_alert(self.model, o.feature, o.segment, o.signal))
            for o in performance.tape(chunk)
        ]

    def _apply_joint(self, chunk: SeriesChunk) -> list[Ranked]:
        """A joint unit's update: its rows of every joint field, as one matrix."""
        unit = self.units.joint_of(chunk.key)
        part, members = chunk.part, chunk.members
        rows = np.column_stack([part.numeric[name][members] for name in unit.context.names])
        _, dimension, value = chunk.key
        segment = {} if dimension is None or value is None else {dimension: value}
        ranked: list[Ranked] = []
        for signal in unit.update(rows, part.times[members]):
            row = int(part.rows[members[signal.position]])
            alert = build_alert(self.model, JOINT_FEATURE, segment, signal)
            ranked.append((row, 0, chunk.order, alert))
        return ranked

    def _reset(self, key: UnitKey, error: Exception, retry: bool = False) -> None:
        """Replace a unit whose update raised by a fresh one (it warms up again), say so, and
        count it; ``retry``: the fresh unit is about to take the same rows."""
        self.stats.units_reset += 1
        log.warning(
            "unit %s failed (%s: %s): replaced by a fresh one%s",
            key,
            type(error).__name__,
            str(error)[:300],
            ", which takes the same rows" if retry else "",
        )
        self.units.renew(key)

    def idle(self, seconds: float) -> list[AlertEvent]:
        """The stream has been quiet for ``seconds`` of wall clock (the Kafka worker calls this)."""
        stream = self.units.stream
        alert = stream.idle(seconds) if stream is not None else None
        if alert is None:
            return []
        self.units.touch(STREAM_UNIT)
        return self._count([alert])

    def _count(self, alerts: list[AlertEvent]) -> list[AlertEvent]:
        self.recent_alerts.extend(alerts)
        for alert in alerts:
            if alert.data.status == "firing":
                self.stats.alerts_firing += 1
            else:
                self.stats.alerts_resolved += 1
        return alerts
