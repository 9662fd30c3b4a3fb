"""Prometheus collectors: every value is read at scrape time, nothing is computed per event.

Names follow one prefix (``drift_``), base units, ``_total`` for counters and ``_info`` for
metadata. Every metric carries ``model``; other labels are bounded: a topic, a partition, a
dead-letter reason, an error name, an alert kind, severity and status, a feature. Per-series
metrics (``feature`` x ``segment``) are exported for at most ``metrics.series_cap`` series,
firing ones first, then all-traffic ones, then the busiest; ``drift_series_not_exported`` counts
the rest. Joint units (:mod:`detector.joint`) are series with the feature ``joint``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)

from detector.alerts import segment_label
from detector.joint import FEATURE as JOINT_FEATURE
from detector.observability.metrics import BATCH_BUCKETS, WorkerMetrics
from detector.observability.series_stats import firing_alerts, series_statistics

SeriesKey = tuple[str, str | None, str | None]


def _version() -> str:
    try:
        return version("kafka-drift-detector")
    except PackageNotFoundError:  # running from a source tree without installing
        return "unknown"


def segment_of(key: SeriesKey) -> str:
    """The ``segment`` label of a series: ``all`` or ``name=value`` (as in alert summaries).

    >>> segment_of(("amount", None, None)), segment_of(("amount", "country", "DE"))
    ('all', 'country=DE')
    """
    _, dimension, value = key
    return segment_label({} if dimension is None or value is None else {dimension: value})


def _rank(item: tuple[SeriesKey, Any]) -> tuple[bool, bool, int, str, str, str]:
    (feature, dimension, value), series = item
    firing = bool(firing_alerts(series))
    events = int(getattr(series, "events", 0))
    return (not firing, dimension is not None, -events, feature, dimension or "", value or "")


def _items(series: dict[SeriesKey, Any]) -> list[tuple[SeriesKey, Any]]:
    """A copy of the engine's series, safe while the worker thread adds series."""
    for _ in range(5):
        try:
            return list(series.items())
        except RuntimeError:  # "dictionary changed size during iteration": try again
            continue
    return []


class EngineCollector:
    """Series counts, firing alerts, per-feature data errors and per-series drift statistics."""

    def __init__(self, engine: Any, model: str, series_cap: int = 1000) -> None:
        self.engine = engine
        self.model = model
        self.series_cap = series_cap

    def collect(self) -> Iterator[Metric]:
        series = _items(getattr(self.engine, "series", {}))
        joint = [
            ((JOINT_FEATURE, d, v), u) for (_, d, v), u in _items(getattr(self.engine, "joint", {}))
        ]
        items = series + joint
        m = self.model
        states: Counter[str] = Counter()
        firing: Counter[tuple[str, str]] = Counter()
        missing = CounterMetricFamily(
            "drift_feature_missing_values",
            "Values missing or null, per monitored feature (all traffic).",
            labels=["model", "feature"],
        )
        type_errors = CounterMetricFamily(
            "drift_feature_type_errors",
            "Values of the wrong type, per monitored feature (all traffic).",
            labels=["model", "feature"],
        )
        for _, unit in items:
            states["warmup" if getattr(unit, "reference", None) is None else "monitoring"] += 1
            firing.update(firing_alerts(unit))
        for (feature, dimension, _), unit in series:
            if dimension is None:
                missing.add_metric([m, feature], int(getattr(unit, "missing", 0)))
                type_errors.add_metric([m, feature], int(getattr(unit, "type_errors", 0)))
        yield missing
        yield type_errors

        count = GaugeMetricFamily(
            "drift_series",
            "Series (feature x segment, and joint units) by state: warmup (building the reference) "
            "or monitoring.",
            labels=["model", "state"],
        )
        for state in ("warmup", "monitoring"):
            count.add_metric([m, state], states[state])
        yield count
        alerts = GaugeMetricFamily(
            "drift_alerts_firing",
            "Alerts firing now across all series, by kind and severity.",
            labels=["model", "kind", "severity"],
        )
        for kind, severity in sorted({*firing, ("drift", "warning"), ("drift", "critical")}):
            alerts.add_metric([m, kind, severity], firing[(kind, severity)])
        yield alerts
        yield from self._per_series(items)

    def _per_series(self, items: list[tuple[SeriesKey, Any]]) -> Iterable[Metric]:
        m = self.model
        shown = sorted(items, key=_rank)[: self.series_cap]
        statistic = GaugeMetricFamily(
            "drift_series_statistic",
            "Current drift statistic per series, e.g. cusum_sd (Page-Hinkley), mean_score_sd "
            "(mean normal score of the last window), chi_square (latest categorical window).",
            labels=["model", "feature", "segment", "statistic"],
        )
        thresholds = GaugeMetricFamily(
            "drift_series_statistic_threshold",
            "The level drift_series_statistic alerts above, where the detector has one.",
            labels=["model", "feature", "segment", "statistic"],
        )
        firing = GaugeMetricFamily(
            "drift_series_firing",
            "Alerts of the series firing now, by kind (drift: 0 or 1; quality: one per check).",
            labels=["model", "feature", "segment", "kind"],
        )
        for key, series in shown:
            segment = segment_of(key)
            for name, stat in sorted(series_statistics(series).items()):
                statistic.add_metric([m, key[0], segment, name], stat.value)
                if stat.threshold is not None:
                    thresholds.add_metric([m, key[0], segment, name], stat.threshold)
            kinds = Counter(kind for kind, _ in firing_alerts(series))
            for kind in sorted({"drift", *kinds}):
                firing.add_metric([m, key[0], segment, kind], kinds[kind])
        yield statistic
        yield thresholds
        yield firing
        left_out = GaugeMetricFamily(
            "drift_series_not_exported",
            "Series left out of the per-series metrics by metrics.series_cap.",
            labels=["model"],
        )
        left_out.add_metric([m], len(items) - len(shown))
        yield left_out


class WorkerCollector:
    """Consumption, dead letters, errors, batches, lag, assignment and alert counters."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        snap = self.metrics.snapshot()
        m, topic = self.metrics.model, self.metrics.topic
        info = InfoMetricFamily("drift_build", "Version of the detector.", labels=["model"])
        info.add_metric([m], {"version": _version()})
        yield info
        records = CounterMetricFamily(
            "drift_records_consumed",
            "Records consumed from the events topic (dead letters included).",
            labels=["model", "topic"],
        )
        records.add_metric([m, topic], snap.records)
        yield records
        dlq = CounterMetricFamily(
            "drift_dead_letter_records",
            "Records sent to the dead-letter topic, by reason.",
            labels=["model", "reason"],
        )
        for reason, n in sorted(snap.dead_letters.items()):
            dlq.add_metric([m, reason], n)
        yield dlq
        errors = CounterMetricFamily(
            "drift_errors",
            "Kafka errors by stage (consume, produce, lag) and librdkafka error name.",
            labels=["model", "stage", "type"],
        )
        for (stage, kind), n in sorted(snap.errors.items()):
            errors.add_metric([m, stage, kind], n)
        yield errors
        alerts = CounterMetricFamily(
            "drift_alerts",
            "Alert events produced, by kind, severity and status (firing or resolved).",
            labels=["model", "kind", "severity", "status"],
        )
        for (kind, severity, status), n in sorted(snap.alerts.items()):
            alerts.add_metric([m, kind, severity, status], n)
        yield alerts
        rebalances = CounterMetricFamily(
            "drift_rebalances",
            "Consumer-group rebalance callbacks, by event (assign or revoke).",
            labels=["model", "event"],
        )
        for event in ("assign", "revoke"):
            rebalances.add_metric([m, event], snap.rebalances.get(event, 0))
        yield rebalances
        duration = HistogramMetricFamily(
            "drift_batch_duration_seconds",
            "Time to decode, detect, produce, flush and store offsets of one micro-batch.",
            labels=["model"],
        )
        pairs = zip(BATCH_BUCKETS, snap.batch_buckets, strict=True)
        buckets = [(str(bound), float(n)) for bound, n in pairs]
        buckets.append(("+Inf", float(snap.batch_count)))
        duration.add_metric([m], buckets, snap.batch_sum)
        yield duration
        lag = GaugeMetricFamily(
            "drift_consumer_lag_records",
            "High watermark minus consumer position, per assigned partition.",
            labels=["model", "topic", "partition"],
        )
        for partition, n in sorted(snap.lag.items()):
            lag.add_metric([m, topic, str(partition)], n)
        yield lag
        for name, text, value in (
            (
                "drift_order_enforced",
                "Times a merge went on without an input partition that was behind for "
                "processing.lag_wait (its rows may come out of order).",
                snap.enforced,
            ),
            (
                "drift_units_reset",
                "State units whose update raised, replaced by fresh ones that warm up again.",
                snap.units_reset,
            ),
            (
                "drift_state_discarded_units",
                "Changelog snapshots discarded on restore (other version or settings, wrong "
                "shape, offsets past their partition's end): their units warm up again.",
                snap.discarded_units,
            ),
        ):
            counter = CounterMetricFamily(name, text, labels=["model"])
            counter.add_metric([m], value)
            yield counter
        waiting = GaugeMetricFamily(
            "drift_order_waiting_rows",
            "Rows the fullest merge holds back until every input partition is past them.",
            labels=["model"],
        )
        waiting.add_metric([m], snap.waiting_rows)
        yield waiting
        assigned = GaugeMetricFamily(
            "drift_assigned_partitions",
            "Partitions of the events topic assigned to this worker.",
            labels=["model", "topic"],
        )
        assigned.add_metric([m, topic], len(snap.assigned))
        yield assigned
        times = [
            ("last_event", "Newest event time processed.", snap.last_event_time),
            ("last_batch", "Wall-clock time of the last processed batch.", snap.last_batch_time),
            ("last_poll", "Wall-clock time of the last poll-loop turn.", snap.last_poll_time),
        ]
        for name, text, stamp in times:
            gauge = GaugeMetricFamily(f"drift_{name}_timestamp_seconds", text, labels=["model"])
            if stamp is not None:
                gauge.add_metric([m], stamp)
            yield gauge


def build_registry(
    metrics: WorkerMetrics | None, engine: Any, model: str, series_cap: int
) -> CollectorRegistry:
    """A registry with the worker's, the engine's and the process's (``process_*``) metrics."""
    registry = CollectorRegistry(auto_describe=False)
    if metrics is not None:
        registry.register(WorkerCollector(metrics))
    registry.register(EngineCollector(engine, model, series_cap))
    if getattr(engine, "performance", None) is not None:
        from detector.observability.performance import PerformanceCollector

        registry.register(PerformanceCollector(engine, model, series_cap))
    ProcessCollector(registry=registry)
    return registry
