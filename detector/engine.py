"""The detection engine: decoded micro-batches in, alert events out. No Kafka in here.

A *series* is (model, feature, segment): one for all traffic, plus one per value of each segment
dimension (at most ``max_values`` per dimension; later values share ``__other__``). Each event
updates, for every monitored field, the all-traffic series and one series per dimension.

Alerts only depend on the order of events within each series, never on how the stream was cut
into micro-batches, and carry no wall-clock data, so ``run`` (Kafka) and ``replay`` (files) give
identical alerts for the same input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from detector.alerts import AlertEvent, build_alert
from detector.config import Config
from detector.events import EventBatch
from detector.series import CategoricalSeries, NumericSeries

OTHER_SEGMENT = "__other__"
SeriesKey = tuple[str, str | None, str | None]  # feature, segment dimension, segment value


@dataclass
class EngineStats:
    """Running totals for logs, metrics and the end-of-run summary."""

    events: int = 0
    alerts_firing: int = 0
    alerts_resolved: int = 0
    series: int = 0


class Engine:
    """Routes each micro-batch to its series and turns their signals into alert events."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.fields = config.monitored_fields()
        self.series: dict[SeriesKey, NumericSeries | CategoricalSeries] = {}
        self.stats = EngineStats()
        self._segment_values: dict[str, dict[str, str]] = {s.name: {} for s in config.segments}
        self._max_values = {s.name: s.max_values for s in config.segments}

    def _cap(self, dimension: str, value: str) -> str:
        known = self._segment_values[dimension]
        mapped = known.get(value)
        if mapped is None:
            full = len(known) >= self._max_values[dimension]
            mapped = OTHER_SEGMENT if full else value
            known[value] = mapped
        return mapped

    def _groups(self, batch: EventBatch) -> list[tuple[str | None, str | None, np.ndarray]]:
        groups: list[tuple[str | None, str | None, np.ndarray]] = [
            (None, None, np.arange(batch.size))
        ]
        for dimension, raw in batch.segments.items():
            rows: dict[str, list[int]] = {}
            for row, value in enumerate(raw):
                rows.setdefault(self._cap(dimension, value), []).append(row)
            groups += [(dimension, v, np.asarray(r)) for v, r in rows.items()]
        return groups

    def _series(self, key: SeriesKey, numeric: bool) -> NumericSeries | CategoricalSeries:
        series = self.series.get(key)
        if series is None:
            detection = self.config.detection
            series = NumericSeries(detection) if numeric else CategoricalSeries(detection)
            self.series[key] = series
            self.stats.series = len(self.series)
        return series

    def process(self, batch: EventBatch) -> list[AlertEvent]:
        """Update every affected series with the batch; return alerts in stream order."""
        if batch.size == 0:
            return []
        self.stats.events += batch.size
        ranked: list[tuple[int, int, AlertEvent]] = []
        groups = self._groups(batch)
        for order, (spec, (dimension, value, rows)) in enumerate(
            (f, g) for f in self.fields for g in groups
        ):
            key = (spec.name, dimension, value)
            errors = batch.type_errors[spec.name][rows]
            times = batch.times[rows]
            series = self._series(key, spec.type == "numeric")
            if isinstance(series, NumericSeries):
                signals = series.update(batch.numeric[spec.name][rows], errors, times)
            else:
                column = batch.categorical[spec.name]
                signals = series.update([column[r] for r in rows], errors, times)
            segment = {} if dimension is None or value is None else {dimension: value}
            for signal in signals:
                alert = build_alert(self.config.model, "drift", spec.name, segment, signal)
                ranked.append((int(rows[signal.position]), order, alert))
        ranked.sort(key=lambda item: (item[0], item[1]))
        alerts = [alert for _, _, alert in ranked]
        for alert in alerts:
            if alert.data.status == "firing":
                self.stats.alerts_firing += 1
            else:
                self.stats.alerts_resolved += 1
        return alerts

    def counters(self) -> Iterable[tuple[SeriesKey, int, int, int]]:
        """(series, events, missing, type errors) for every series."""
        for key, series in self.series.items():
            yield key, series.events, series.missing, series.type_errors
