"""The HTTP endpoint: /metrics in both exposition formats, /healthz, /readyz, bind failures."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from detector.engine import Engine
from detector.observability.http import serve_worker
from detector.observability.metrics import WorkerMetrics


def _metrics(workload: Any, engine: Engine | None = None, **settings: Any) -> WorkerMetrics:
    config = workload.config(metrics={"port": 0, **settings})
    return WorkerMetrics(config, engine if engine is not None else Engine(config))


def test_metrics_health_and_readiness_over_http(
    workload: Any, drifted_engine: Engine, fetch: Callable[..., Any]
) -> None:
    """/metrics serves the text format; /healthz and /readyz answer 200 or 503 with a reason."""
    metrics = _metrics(workload, drifted_engine)
    with serve_worker(workload.config(metrics={"port": 0}), metrics) as server:
        assert server is not None and server.host == "127.0.0.1" and server.port > 0
        base = f"http://127.0.0.1:{server.port}"

        scraped = fetch(f"{base}/metrics")
        assert scraped.status == 200
        assert scraped.content_type.startswith("text/plain; version=0.0.4")
        names = {f.name for f in text_string_to_metric_families(scraped.body.decode())}
        assert {"drift_records_consumed", "drift_series_statistic", "drift_build_info"} <= names

        assert fetch(f"{base}/healthz").status == 200
        not_ready = fetch(f"{base}/readyz")
        assert not_ready.status == 503
        assert not_ready.json()["status"] == "no partitions assigned"
        metrics.started({})
        metrics.assigned({0})
        ready = fetch(f"{base}/readyz")
        assert ready.status == 200 and ready.json()["assigned_partitions"] == [0]
        metrics.stopped()
        dead = fetch(f"{base}/healthz")
        assert dead.status == 503 and dead.json()["status"] == "stopped"
        assert fetch(f"{base}/nope").status == 404


def test_openmetrics_on_request(workload: Any, fetch: Callable[..., Any]) -> None:
    """A scraper that asks for OpenMetrics gets it, ending in # EOF."""
    metrics = _metrics(workload)
    with serve_worker(workload.config(metrics={"port": 0}), metrics) as server:
        assert server is not None
        reply = fetch(
            f"http://127.0.0.1:{server.port}/metrics",
            accept="application/openmetrics-text; version=1.0.0",
        )
    assert reply.status == 200
    assert reply.content_type.startswith("application/openmetrics-text")
    assert reply.body.rstrip().endswith(b"# EOF")


def test_disabled_serves_nothing(workload: Any) -> None:
    """metrics.enabled: false starts no server."""
    config = workload.config(metrics={"enabled": False, "port": 0})
    with serve_worker(config, WorkerMetrics(config, Engine(config))) as server:
        assert server is None


def test_busy_port_is_logged_and_the_worker_goes_on(
    workload: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A port already bound is an ERROR log line, not a crash: alerting must go on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        config = workload.config(metrics={"port": port})
        with (
            caplog.at_level(logging.ERROR, logger="detector.http"),
            serve_worker(config, WorkerMetrics(config, Engine(config))) as server,
        ):
            assert server is None
    assert any(f"127.0.0.1:{port}" in r.getMessage() for r in caplog.records)


def test_server_stops_with_the_block(workload: Any, fetch: Callable[..., Any]) -> None:
    """After the block the port is closed again."""
    config = workload.config(metrics={"port": 0})
    with serve_worker(config, WorkerMetrics(config, Engine(config))) as server:
        assert server is not None
        port = server.port
        assert fetch(f"http://127.0.0.1:{port}/").status == 200
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
