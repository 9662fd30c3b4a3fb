"""Prometheus metrics of the label join and of model performance, read at scrape time.

Only registered when the config has a ``label`` section. Labels stay bounded: a drop reason, a
side, a metric name, and the segment of at most ``metrics.series_cap`` performance series (all
traffic first). Estimated performance (before labels) is ``drift_performance_estimate``, with
the same ``segment`` and ``metric`` labels as the realised ``drift_performance_metric``, so the
two plot side by side.

>>> from detector.config import parse_config
>>> from detector.engine import Engine
>>> from detector.testing.labelled import LabelledStream
>>> engine = Engine(parse_config(LabelledStream().config()))
>>> sorted(m.name for m in PerformanceCollector(engine, "m", 10).collect())
... # doctest: +NORMALIZE_WHITESPACE
['drift_join_dropped', 'drift_join_pairs', 'drift_join_pending', 'drift_performance_estimate',
 'drift_performance_firing', 'drift_performance_metric']
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from detector.labels.estimate import FEATURE as ESTIMATED
from detector.labels.series import ERROR, VS_REST

_DROPPED = {
    "expired_prediction": "expired_predictions",
    "evicted_prediction": "evicted_predictions",
    "unmatched_label": "unmatched_labels",
    "duplicate": "duplicates",
    "unusable_prediction": "unusable_predictions",
}


class PerformanceCollector:
    """The join's counters and each performance series' latest window metrics."""

    def __init__(self, engine: Any, model: str, series_cap: int = 1000) -> None:
        self.engine = engine
        self.model = model
        self.series_cap = series_cap

    def collect(self) -> Iterator[Metric]:
        monitor = getattr(self.engine, "performance", None)
        if monitor is None:
            return
        m, stats = self.model, monitor.stats
        pairs = CounterMetricFamily(
            "drift_join_pairs", "Predictions joined with their label.", labels=["model"]
        )
        pairs.add_metric([m], stats.matched)
        yield pairs
        dropped = CounterMetricFamily(
            "drift_join_dropped",
            "Halves that left the join without a partner, or never entered it, by reason.",
            labels=["model", "reason"],
        )
        for reason, attribute in _DROPPED.items():
            dropped.add_metric([m, reason], getattr(stats, attribute))
        yield dropped
        pending = GaugeMetricFamily(
            "drift_join_pending",
            "Halves waiting for their partner, by side.",
            labels=["model", "side"],
        )
        pending.add_metric([m, "prediction"], stats.pending_predictions)
        pending.add_metric([m, "label"], stats.pending_labels)
        yield pending
        yield self._per_segment(
            "drift_performance_metric",
            "The latest closed performance window's metrics (accuracy, f1, log_loss, ece, "
            "mae, rmse, error_rate, ...) per segment.",
            monitor.metrics(),
        )
        yield self._per_segment(
            "drift_performance_estimate",
            "The latest closed estimate window's metrics, from predictions before labels "
            "(cbpe: accuracy, precision, recall, f1, roc_auc; dle: mae; count) per segment.",
            monitor.estimated_metrics(),
        )
        firing = GaugeMetricFamily(
            "drift_performance_firing",
            "Performance alerts firing now: error (concept drift), error_vs_rest (a segment "
            "worse than the rest of the traffic) or estimated_performance (cbpe, dle).",
            labels=["model", "alert"],
        )
        for alert in (ERROR, VS_REST):
            count = sum(s.lifecycles[alert].firing for s in list(monitor.series.values()))
            firing.add_metric([m, alert], count)
        estimated = sum(s.lifecycle.firing for s in list(monitor.estimates.values()))
        firing.add_metric([m, ESTIMATED], estimated)
        yield firing

    def _per_segment(
        self, name: str, documentation: str, metrics: dict[str, dict[str, float]]
    ) -> GaugeMetricFamily:
        """A gauge of each segment's metrics, the first ``series_cap`` segments."""
        family = GaugeMetricFamily(name, documentation, labels=["model", "segment", "metric"])
        for segment, values in list(metrics.items())[: self.series_cap]:
            for metric, value in sorted(values.items()):
                family.add_metric([self.model, segment, metric], float(value))
        return family
