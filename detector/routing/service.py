"""The router as a service: ``/metrics``, ``/healthz`` and ``/readyz`` while ``route`` runs.

The endpoint is the detector worker's (:mod:`detector.observability.http`) on the router's own
port (``metrics.port``, default 9465; Prometheus job ``kafka-drift-router``). Metrics share the
prefix ``drift_router_``; their only labels are sink and route names from the config:

- ``drift_router_notifications_sent_total{sink}``: notifications a sink accepted (2xx);
- ``drift_router_notifications_retried_total{sink}``: transient failures (429, 5xx, timeouts),
  each followed by a retry of the same notification;
- ``drift_router_notifications_dead_lettered_total{sink}``: permanent rejections (other 4xx);
- ``drift_router_delivery_latency_seconds{sink}``: histogram, from the alert record's time
  (when the detector wrote it) to the sink's acceptance; group_wait and flap_window included;
- ``drift_router_alerts_grouped_total{route}`` and ``drift_router_alerts_silenced_total``;
- ``drift_router_pending_notifications{sink}``: notifications waiting for a sink;
- ``drift_router_last_poll_timestamp_seconds`` and the process's ``process_*`` metrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from detector.observability.http import ObservabilityServer, serve
from detector.routing.config import RouterConfig
from detector.routing.metrics import LATENCY_BUCKETS, RouterMetrics

PREFIX = "drift_router_"


class RouterCollector:
    """Renders a :class:`RouterMetrics` snapshot at scrape time."""

    def __init__(self, metrics: RouterMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        snap = self.metrics.snapshot()
        for name, text, values in (
            ("notifications_sent", "Notifications a sink accepted (2xx).", snap.sent),
            (
                "notifications_retried",
                "Transient delivery failures (408, 429, 5xx, timeouts, refused connections); "
                "each is retried with backoff.",
                snap.retried,
            ),
            (
                "notifications_dead_lettered",
                "Notifications a sink rejected (other 4xx), written to the dead-letter topic.",
                snap.dead_lettered,
            ),
        ):
            counter = CounterMetricFamily(PREFIX + name, text, labels=["sink"])
            for sink, n in values.items():
                counter.add_metric([sink], n)
            yield counter
        latency = HistogramMetricFamily(
            PREFIX + "delivery_latency_seconds",
            "Seconds from an alert record's time to the sink's acceptance of the notification "
            "it caused (group_wait, flap_window and outages included; repeats not observed).",
            labels=["sink"],
        )
        for sink, cumulative in snap.latency_buckets.items():
            pairs = zip(LATENCY_BUCKETS, cumulative, strict=True)
            buckets = [(str(bound), float(n)) for bound, n in pairs]
            buckets.append(("+Inf", float(snap.latency_count[sink])))
            latency.add_metric([sink], buckets, snap.latency_sum[sink])
        yield latency
        grouped = CounterMetricFamily(
            PREFIX + "alerts_grouped",
            "Alert events folded into a group of the route.",
            labels=["route"],
        )
        for route, n in snap.grouped.items():
            grouped.add_metric([route], n)
        yield grouped
        yield CounterMetricFamily(
            PREFIX + "alerts_silenced",
            "Alert events that matched an active silence.",
            value=snap.silenced,
        )
        pending = GaugeMetricFamily(
            PREFIX + "pending_notifications",
            "Notifications the sink has yet to take (grows while it is down).",
            labels=["sink"],
        )
        for sink, n in snap.pending.items():
            pending.add_metric([sink], n)
        yield pending
        yield GaugeMetricFamily(
            PREFIX + "last_poll_timestamp_seconds",
            "Wall-clock time of the last poll-loop turn.",
            value=snap.last_poll_time,
        )


def build_registry(metrics: RouterMetrics) -> CollectorRegistry:
    """The router's and the process's (``process_*``) metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RouterCollector(metrics))
    ProcessCollector(registry=registry)
    return registry


@contextlib.contextmanager
def serve_router(
    config: RouterConfig, metrics: RouterMetrics
) -> Iterator[ObservabilityServer | None]:
    """Serve the router's metrics and health while the block runs, if ``metrics.enabled``.

    As for the worker, a port that cannot be bound is logged and routing goes on without it.
    """
    settings = config.metrics
    if not settings.enabled:
        yield None
        return
    registry = build_registry(metrics)
    with serve(settings.host, settings.port, registry, metrics.health, metrics.readiness) as server:
        yield server
