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

**Labels.** With a ``label`` section, each slice carries a tape of predictions and labels in
key order (:mod:`detector.order`), which the performance unit joins in that order
(:mod:`detector.labels.monitor`); the data series see the events in the same order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from detector.alerts import AlertEvent, build_alert
from detector.baseline import Baseline, SeriesKey
from detector.chunks import (
    PERFORMANCE_UNIT,
    STREAM_UNIT,
    Chunk,
    SeriesChunk,
    StreamChunk,
    UnitKey,
    chunk_unit,
)
from detector.config import Config
from detector.detectors.plugins import Plugin, plugins_from
from detector.events import EventBatch
from detector.labels.monitor import PerformanceMonitor
from detector.order import Keys
from detector.predictions import LabelBatch
from detector.reference import CategoricalReference, NumericReference
from detector.series import CategoricalSeries, NumericSeries, SeriesContext
from detector.series.batch import rounds, update_series
from detector.slices import PerformanceTape, Slice
from detector.split import Splitter, slice_chunks
from detector.state.codec import Shared
from detector.state.shared import shared_objects
from detector.stream_checks import StreamUnit

log = logging.getLogger("detector.engine")
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
    units_reset: int = 0  # units whose update raised, replaced by fresh ones


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


Unit = NumericSeries | CategoricalSeries | StreamUnit | PerformanceMonitor


class Engine:
    """Splits micro-batches into chunks (:mod:`detector.split`) and applies chunks to units.

    Units are created on their first chunk, so a Kafka worker that owns some units only holds
    those; ``dirty`` names the units changed since the caller last snapshotted them.
    """

    def __init__(
        self, config: Config, baseline: Baseline | None = None, plugins: Sequence[Plugin] = ()
    ) -> None:
        self.config = config
        self.baseline = baseline
        self.fields = config.monitored_fields() + config.derived_fields()
        self.specs = {spec.name: spec for spec in self.fields}
        self.series: dict[SeriesKey, NumericSeries | CategoricalSeries] = {}
        self.stats = EngineStats()
        self.splitter = Splitter(config)
        self.alpha = test_level(config)
        self.plugins = plugins_from(config) + tuple(plugins)
        self._contexts = {
            f.name: SeriesContext(
                config.detection,
                self.alpha,
                f.bounds,
                tuple(p for p in self.plugins if f.type == "numeric" and p.watches(f.name)),
            )
            for f in self.fields
        }
        self.recent_alerts: deque[AlertEvent] = deque(maxlen=RECENT_ALERTS)  # for the report
        self.stream: StreamUnit | None = None
        self.performance = (
            PerformanceMonitor(config, self.alpha, self.plugins) if config.label else None
        )
        self.dirty: set[UnitKey] = set()
        self.threads = config.run.series_threads()

    def _series(self, key: SeriesKey) -> NumericSeries | CategoricalSeries:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = self._new_series(key)
            self.stats.series = len(self.series)
        return series

    def _new_series(self, key: SeriesKey) -> NumericSeries | CategoricalSeries:
        spec = self.specs[key[0]]
        reference = self.baseline.references.get(key) if self.baseline else None
        context = self._contexts[spec.name]
        if spec.type == "numeric":
            numeric = reference if isinstance(reference, NumericReference) else None
            return NumericSeries(context, numeric)
        categorical = reference if isinstance(reference, CategoricalReference) else None
        return CategoricalSeries(context, categorical)

    def template(self, key: UnitKey) -> Unit:
        """A fresh unit for ``key``, not installed: what restored state must look like."""
        if key == STREAM_UNIT:
            return StreamUnit(self.config, self.alpha)
        if key == PERFORMANCE_UNIT:
            if self.config.label is None:
                raise ValueError("a performance unit needs a config with a label section")
            return PerformanceMonitor(self.config, self.alpha, self.plugins)
        if key[0] not in self.specs:
            raise ValueError(f"no monitored field {key[0]!r}")
        return self._new_series(key)

    def slice(self, batch: EventBatch, keys: Keys | None = None, ordered: bool = True) -> Slice:
        """Stage one: the batch as columns, in key order unless not ``ordered`` (count it as
        consumed)."""
        self.stats.events += batch.size
        return self.splitter.slice(batch, keys, ordered)

    def label_slice(self, batch: LabelBatch, keys: Keys) -> Slice:
        """Stage one for labels: a slice holding only their tape."""
        if self.performance is None:
            raise ValueError("labels need a config with a label section")
        return self.splitter.label_slice(batch, keys)

    def split(self, batch: EventBatch) -> list[Chunk]:
        """Stage one, cut into every unit's chunk (what one process applies itself)."""
        return self.chunks(self.slice(batch)) if batch.size else []

    def chunks(self, part: Slice, keep: Callable[[UnitKey], bool] | None = None) -> list[Chunk]:
        """A slice's chunks for the units ``keep`` accepts (default: all)."""
        if keep is None:
            return slice_chunks(self.config, part)
        return slice_chunks(self.config, part, keep)

    def process(self, batch: EventBatch) -> list[AlertEvent]:
        """Update every affected series with the batch (one source, in order); return alerts in
        stream order. Events and labels of several sources go through :mod:`detector.feed`."""
        return self.apply(self.split(batch))

    def apply(self, chunks: Iterable[Chunk]) -> list[AlertEvent]:
        """Stage two: update each chunk's unit; alerts ordered by (origin row, data before
        performance, series order), as if the whole batch had been processed at once. A unit
        whose update raises is replaced by a fresh one (:meth:`reset`): no input stops the
        engine."""
        ranked: list[tuple[int, int, int, AlertEvent]] = []
        series_chunks: list[SeriesChunk] = []
        for chunk in chunks:
            if isinstance(chunk, SeriesChunk):
                self.dirty.add(chunk.key)
                series_chunks.append(chunk)
                continue
            key = chunk_unit(chunk)
            self.dirty.add(key)
            for attempt in (1, 2):  # a fresh unit takes the rows its broken one failed on
                try:
                    ranked += self._apply_other(chunk)
                    break
                except Exception as exc:
                    self.reset(key, exc, retry=attempt == 1)
        for round_ in rounds(series_chunks):
            ranked += update_series(
                round_, self._series, self.reset, self.config.model, self.threads
            )
        ranked.sort(key=lambda item: item[:3])
        return self._count([alert for *_, alert in ranked])

    def _apply_other(self, chunk: Chunk) -> list[tuple[int, int, int, AlertEvent]]:
        """The stream unit's or the performance unit's update."""
        if isinstance(chunk, StreamChunk):
            if self.stream is None:
                self.stream = StreamUnit(self.config, self.alpha)
            return [(row, 0, 0, alert) for row, alert in self.stream.update(chunk)]
        assert isinstance(chunk, PerformanceTape)
        if self.performance is None:
            raise ValueError("labels need a config with a label section")
        model = self.config.model
        return [
            (o.row, 1, o.order, build_alert(model, o.feature, o.segment, o.signal))
            for o in self.performance.tape(chunk)
        ]

    def reset(self, key: UnitKey, error: Exception, retry: bool = False) -> None:
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
        self.dirty.add(key)
        if key == STREAM_UNIT:
            self.stream = StreamUnit(self.config, self.alpha)
        elif key == PERFORMANCE_UNIT:
            self.performance = PerformanceMonitor(self.config, self.alpha, self.plugins)
        else:
            self.series[key] = self._new_series(key)

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
        alert = self.stream.idle(seconds) if self.stream is not None else None
        if alert is None:
            return []
        self.dirty.add(STREAM_UNIT)
        return self._count([alert])

    def unit(self, key: UnitKey) -> Unit | None:
        """A unit's live state object (None if this engine has none)."""
        if key == STREAM_UNIT:
            return self.stream
        if key == PERFORMANCE_UNIT:
            return self.performance
        return self.series.get(key)

    def install(self, key: UnitKey, unit: Unit) -> None:
        """Put restored state in place of a unit's."""
        if key == STREAM_UNIT and isinstance(unit, StreamUnit):
            self.stream = unit
        elif key == PERFORMANCE_UNIT and isinstance(unit, PerformanceMonitor):
            self.performance = unit
        elif isinstance(unit, NumericSeries | CategoricalSeries) and key[0] in self.specs:
            self.series[key] = unit
            self.stats.series = len(self.series)
        else:
            raise ValueError(f"{type(unit).__name__} is not the state of unit {key}")

    def drop(self, keys: Iterable[UnitKey]) -> None:
        """Forget units (their partition went to another worker)."""
        for key in keys:
            if key == STREAM_UNIT:
                self.stream = None
            elif key == PERFORMANCE_UNIT and self.performance is not None:
                self.performance = PerformanceMonitor(self.config, self.alpha, self.plugins)
            else:
                self.series.pop(key, None)
            self.dirty.discard(key)
        self.stats.series = len(self.series)

    def unit_keys(self) -> list[UnitKey]:
        keys: list[UnitKey] = list(self.series)
        if self.stream is not None:
            keys.append(STREAM_UNIT)
        if self.performance is not None:
            keys.append(PERFORMANCE_UNIT)
        return keys

    def shared_state(self) -> Shared:
        """Objects units refer to that come from config or baseline, not from the stream:
        snapshots name them instead of copying them (:mod:`detector.state.codec`)."""
        context = self.performance.context if self.performance is not None else None
        return shared_objects(self.config, self._contexts, self.baseline, context)

    def counters(self) -> Iterable[tuple[SeriesKey, int, int, int]]:
        """(series, events, missing, type errors) for every series."""
        for key, series in self.series.items():
            yield key, series.events, series.missing, series.type_errors


def build_engine(config: Config) -> Engine:
    """An engine with the config's baseline loaded (when it names one)."""
    from detector.baseline import load_baseline

    baseline = load_baseline(config.baseline, config) if config.baseline else None
    return Engine(config, baseline)
