"""The detection engine: decoded micro-batches in, alert events out. No Kafka in here.

A *series* is (model, feature, segment): one for all traffic, plus one per value of each segment
dimension (:mod:`detector.segments`). Each event updates, for every monitored field, the
all-traffic series and one series per dimension.

Alerts only depend on the order of events within each series, never on how the stream was cut
into micro-batches, and carry no wall-clock data, so ``run`` (Kafka) and ``replay`` (files) give
identical alerts for the same input.

**False-alarm budget.** Every closed window runs up to ``TESTS_PER_WINDOW`` tests. With ``F``
monitored fields, ``D`` segment dimensions and windows of ``W`` events, a model runs about
``1e7 * F * (1 + D) / W * TESTS_PER_WINDOW`` tests per 10 million events; each test's level is
the budget (``detection.false_alarms_per_10m_events``) divided by that number (a union bound, so
the real rate is lower). With labels, each segment's performance window adds one more test (the
segment against the rest of the traffic).

**Labels.** With a ``label`` section, :meth:`Engine.process_runs` takes both streams in their
merged order (:mod:`detector.labels.merge`) and joins predictions with labels in that order
(:mod:`detector.labels.monitor`); the data series still see the events in their own order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from detector.alerts import AlertEvent, build_alert
from detector.baseline import Baseline, SeriesKey
from detector.config import Config, FeatureSpec
from detector.events import EventBatch
from detector.labels.decode import LabelBatch, with_derived_fields
from detector.labels.merge import EVENTS, concat_events
from detector.labels.monitor import PerformanceMonitor
from detector.reference import CategoricalReference, NumericReference
from detector.segments import SegmentRouter
from detector.series import CategoricalSeries, NumericSeries, SeriesContext
from detector.stream_checks import VOLUME_FEATURE, SchemaCheck, SilenceCheck, VolumeCheck

RECENT_ALERTS = 1000  # alerts kept for the drift report
TESTS_PER_WINDOW = 8  # 4 distribution tests + up to 4 quality checks
_ALPHA_RANGE = (1e-12, 1e-3)


@dataclass
class EngineStats:
    """Running totals for logs, metrics and the end-of-run summary."""

    events: int = 0
    alerts_firing: int = 0
    alerts_resolved: int = 0
    series: int = 0


def test_level(config: Config) -> float:
    """The per-test significance level that keeps the model within its false-alarm budget.

    >>> from detector.config import parse_config
    >>> cfg = parse_config({"model": "m", "topics": {"events": "e", "alerts": "a",
    ...     "dead_letter": "d"}, "features": [{"name": "x", "path": "x", "type": "numeric"}]})
    >>> f"{test_level(cfg):.2e}"
    '6.25e-06'
    """
    detection = config.detection
    fields = len(config.monitored_fields()) + len(config.derived_fields())
    series_updates = fields * (1 + len(config.segments))
    tests = 1e7 * series_updates / detection.window * TESTS_PER_WINDOW
    if config.label is not None:  # one segment-versus-rest test per segment window
        tests += 1e7 * len(config.segments) / config.performance.window
    low, high = _ALPHA_RANGE
    return min(max(detection.false_alarms_per_10m_events / tests, low), high)


class Engine:
    """Routes each micro-batch to its series and turns their signals into alert events."""

    def __init__(self, config: Config, baseline: Baseline | None = None) -> None:
        self.config = config
        self.baseline = baseline
        self.fields = config.monitored_fields() + config.derived_fields()
        self.series: dict[SeriesKey, NumericSeries | CategoricalSeries] = {}
        self.stats = EngineStats()
        self.router = SegmentRouter(config.segments)
        self.alpha = test_level(config)
        self._contexts = {
            f.name: SeriesContext(config.detection, self.alpha, f.bounds) for f in self.fields
        }
        self.recent_alerts: deque[AlertEvent] = deque(maxlen=RECENT_ALERTS)  # for the report
        self.schema = SchemaCheck(config.detection)
        self.silence = SilenceCheck(config.detection.stream_silence_seconds)
        self._last_event_time = 0.0
        self.volume = VolumeCheck(config.detection, self.alpha) if config.segments else None
        self.performance = PerformanceMonitor(config, self.alpha) if config.label else None

    def _series(self, spec: FeatureSpec, key: SeriesKey) -> NumericSeries | CategoricalSeries:
        series = self.series.get(key)
        if series is None:
            reference = self.baseline.references.get(key) if self.baseline else None
            context = self._contexts[spec.name]
            if spec.type == "numeric":
                numeric = reference if isinstance(reference, NumericReference) else None
                series = NumericSeries(context, numeric)
            else:
                categorical = reference if isinstance(reference, CategoricalReference) else None
                series = CategoricalSeries(context, categorical)
            self.series[key] = series
            self.stats.series = len(self.series)
        return series

    def process(self, batch: EventBatch) -> list[AlertEvent]:
        """Update every affected series with the batch; return alerts in stream order."""
        return self._count([alert for _, _, alert in self._ranked(batch)])

    def _ranked(self, batch: EventBatch) -> list[tuple[int, int, AlertEvent]]:
        """The batch's alerts with their row and their order among the row's alerts."""
        if batch.size == 0:
            return []
        batch = with_derived_fields(batch, self.config)
        self.stats.events += batch.size
        ranked: list[tuple[int, int, AlertEvent]] = []
        resumed = self.silence.traffic(self.stats.events, float(batch.times[0]))
        if resumed is not None:
            ranked.append((0, 0, build_alert(self.config.model, VOLUME_FEATURE, {}, resumed)))
        self._last_event_time = float(batch.times[-1])
        capped = self.router.capped(batch.segments)
        groups = self.router.groups(batch.size, capped)
        first_event = self.stats.events - batch.size  # stream index before this batch
        for row, paths in batch.schema_samples:
            when = float(batch.times[row])
            for path, signal in self.schema.check(paths, first_event + row + 1, when):
                ranked.append((row, 0, build_alert(self.config.model, path, {}, signal)))
        if self.volume is not None:
            for row, segment, signal in self.volume.update(capped, batch.times.tolist()):
                alert = build_alert(self.config.model, VOLUME_FEATURE, segment, signal)
                ranked.append((row, 0, alert))
        order = 0
        for spec in self.fields:
            errors_column = batch.type_errors[spec.name]
            for dimension, value, rows in groups:
                order += 1
                series = self._series(spec, (spec.name, dimension, value))
                errors, times = errors_column[rows], batch.times[rows]
                if isinstance(series, NumericSeries):
                    signals = series.update(batch.numeric[spec.name][rows], errors, times)
                else:
                    column = batch.categorical[spec.name]
                    signals = series.update([column[r] for r in rows], errors, times)
                segment = {} if dimension is None or value is None else {dimension: value}
                for signal in signals:
                    alert = build_alert(self.config.model, spec.name, segment, signal)
                    ranked.append((int(rows[signal.position]), order, alert))
        ranked.sort(key=lambda item: (item[0], item[1]))
        return ranked

    def process_runs(self, runs: Sequence[tuple[int, EventBatch | LabelBatch]]) -> list[AlertEvent]:
        """Merged runs of both streams (:mod:`detector.labels.merge`): ``(EVENTS, EventBatch)``
        or ``(LABELS, LabelBatch)``. Every record meets the join in run order; the data series
        then take all the events at once (batching does not change their alerts). Alerts come
        out in merged-record order: a record's data alerts, then the performance alerts of the
        pair it completed."""
        monitor = self.performance
        if monitor is None:
            raise ValueError("process_runs needs a config with a label section")
        keyed: list[tuple[int, int, int, AlertEvent]] = []  # (merged row, data/perf, order)
        events: list[EventBatch] = []
        event_rows: list[np.ndarray] = []
        first = 0
        for side, batch in runs:
            if side == EVENTS:
                assert isinstance(batch, EventBatch)
                outcomes = monitor.predictions(batch, self.router.capped(batch.segments))
                events.append(batch)
                event_rows.append(first + np.arange(batch.size))
            else:
                assert isinstance(batch, LabelBatch)
                outcomes = monitor.labels(batch)
            for o in outcomes:
                alert = build_alert(self.config.model, o.feature, o.segment, o.signal)
                keyed.append((first + o.row, 1, o.order, alert))
            first += batch.size
        if events:
            rows = np.concatenate(event_rows).tolist()
            for row, order, alert in self._ranked(concat_events(events)):
                keyed.append((rows[row], 0, order, alert))
        keyed.sort(key=lambda item: item[:3])
        return self._count([alert for *_, alert in keyed])

    def _count(self, alerts: list[AlertEvent]) -> list[AlertEvent]:
        self.recent_alerts.extend(alerts)
        for alert in alerts:
            if alert.data.status == "firing":
                self.stats.alerts_firing += 1
            else:
                self.stats.alerts_resolved += 1
        return alerts

    def idle(self, seconds: float) -> list[AlertEvent]:
        """The stream has been quiet for ``seconds`` of wall clock (the Kafka worker calls this)."""
        signal = self.silence.idle(seconds, self.stats.events, self._last_event_time)
        if signal is None:
            return []
        self.stats.alerts_firing += 1
        alert = build_alert(self.config.model, VOLUME_FEATURE, {}, signal)
        self.recent_alerts.append(alert)
        return [alert]

    def counters(self) -> Iterable[tuple[SeriesKey, int, int, int]]:
        """(series, events, missing, type errors) for every series."""
        for key, series in self.series.items():
            yield key, series.events, series.missing, series.type_errors


def build_engine(config: Config) -> Engine:
    """An engine with the config's baseline loaded (when it names one)."""
    from detector.baseline import load_baseline

    baseline = load_baseline(config.baseline, config) if config.baseline else None
    return Engine(config, baseline)
