"""The router as a service: /metrics, /healthz and /readyz of a running router, over HTTP.

Scrapes are parsed with prometheus_client's text parser. Every wait polls a condition with a
deadline; no test asserts how long anything took.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from detector.cli import main
from detector.routing.config import parse_router_config
from detector.routing.router import Router
from detector.routing.service import serve_router
from detector.routing.testing import (
    PrometheusProcess,
    Receiver,
    RouterThread,
    alert_event,
    pagerduty_responder,
    produce_alerts,
)
from detector.testing.kafka_broker import free_port

pytestmark = pytest.mark.kafka
MakeConfig = Callable[..., dict[str, Any]]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
BOUNDED_LABELS = {"sink", "route", "le"}  # never an id, a feature or a segment


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def scrape(port: int) -> Samples:
    """Every ``drift_router_*`` sample of one scrape: (name, sorted labels) -> value."""
    status, body = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name.startswith("drift_router_"):
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def probe(port: int, path: str) -> tuple[int, str]:
    status, body = get(f"http://127.0.0.1:{port}{path}")
    return status, str(orjson.loads(body)["status"])


def test_metrics_count_sent_retried_dead_lettered_grouped_silenced_and_latency(
    kafka_bootstrap: str,
    router_topics: dict[str, str],
    route_config: MakeConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PagerDuty answers 503 once then 202, the webhook 400: /metrics says so per sink."""
    answers: list[int] = []

    def respond(request: Any) -> int:
        if request.path == "/hook":
            status = 400
        else:
            status = 503 if 503 not in answers else pagerduty_responder(request)
        answers.append(status)
        return status

    with Receiver(respond) as rx:
        raw = route_config(rx.url, sinks=("pd", "hook"))
        config = tmp_path / "route.yaml"
        config.write_text(yaml.safe_dump(raw))
        args = ["silence", "add", "--config", str(config), "--match", "feature=mcc"]
        assert main([*args, "--for", "1h", "--comment", "test"]) == 0
        capsys.readouterr()
        router = Router(parse_router_config(raw))
        with serve_router(router.config, router.metrics) as server, RouterThread(router):
            assert server is not None
            produce_alerts(
                kafka_bootstrap,
                router_topics["alerts"],
                [alert_event("amount"), alert_event("mcc")],
            )

            def settled() -> bool:  # the gauge is set at the end of the loop's turn
                s = scrape(server.port)
                return (
                    s[("drift_router_notifications_sent_total", (("sink", "pd"),))] == 1
                    and s[("drift_router_pending_notifications", (("sink", "pd"),))] == 0
                    and s[("drift_router_pending_notifications", (("sink", "hook"),))] == 0
                )

            assert rx.wait_for(settled, 60)
            samples = scrape(server.port)
    pd, hook = (("sink", "pd"),), (("sink", "hook"),)
    assert samples[("drift_router_notifications_retried_total", pd)] == answers.count(503) == 1
    assert samples[("drift_router_notifications_retried_total", hook)] == 0
    assert samples[("drift_router_notifications_sent_total", hook)] == 0
    assert samples[("drift_router_alerts_grouped_total", (("route", "pages"),))] == 2
    assert samples[("drift_router_alerts_silenced_total", ())] == 1
    assert samples[("drift_router_notifications_dead_lettered_total", hook)] == 1
    assert samples[("drift_router_delivery_latency_seconds_count", pd)] == 1
    assert samples[("drift_router_delivery_latency_seconds_bucket", (("le", "+Inf"), *pd))] == 1
    # Measured from when the alert was written, not from its event time (January 2026):
    assert samples[("drift_router_delivery_latency_seconds_bucket", (("le", "86400.0"), *pd))] == 1
    assert samples[("drift_router_delivery_latency_seconds_count", hook)] == 0
    assert samples[("drift_router_delivery_latency_seconds_sum", pd)] >= 0
    assert {k for _, labels in samples for k, _ in labels} <= BOUNDED_LABELS
    for name, _ in samples:  # counters end in _total
        assert not name.startswith("drift_router_notifications_") or name.endswith("_total")


def test_health_follows_the_poll_loop_and_readiness_the_restore(
    kafka_bootstrap: str, router_topics: dict[str, str], route_config: MakeConfig
) -> None:
    """/readyz: 503 until the state is restored, then 200. /healthz: 200 while the loop turns,
    503 "stuck" while a delivery blocks it past liveness_timeout, 503 "stopped" at the end."""
    with Receiver(pagerduty_responder) as rx:
        raw = route_config(rx.url, metrics={"port": 0, "liveness_timeout": 0.5})
        raw["delivery"] = {**raw["delivery"], "timeout": "60s"}
        router = Router(parse_router_config(raw))
        with serve_router(router.config, router.metrics) as server:
            assert server is not None
            port = server.port
            assert probe(port, "/readyz") == (503, "restoring state")
            assert probe(port, "/healthz") == (200, "ok")  # starting up counts as alive
            with RouterThread(router):
                assert rx.wait_for(lambda: probe(port, "/readyz") == (200, "ok"))
                rx.hold.set()  # the next delivery blocks the loop until released
                produce_alerts(kafka_bootstrap, router_topics["alerts"], [alert_event("amount")])
                assert rx.held.wait(60)
                assert rx.wait_for(lambda: probe(port, "/healthz") == (503, "stuck"))
                assert probe(port, "/readyz")[0] == 503
                rx.release.set()
                assert rx.wait_for(lambda: probe(port, "/healthz") == (200, "ok"))
            assert probe(port, "/healthz") == (503, "stopped")
            assert probe(port, "/readyz") == (503, "stopped")
            assert (
                get(f"http://127.0.0.1:{port}/")[1]
                == b"kafka-drift-detector: /metrics /healthz /readyz\n"
            )


def test_route_command_serves_on_its_port_and_logs_stay_one_line_per_record(
    kafka_bootstrap: str, router_topics: dict[str, str], route_config: MakeConfig, tmp_path: Path
) -> None:
    """`drift-detector route` (a real process) serves /metrics on metrics.port; a newline in an
    alert's segment value is escaped in its text log, so every line is a whole record."""
    port = free_port()
    config, log = tmp_path / "route.yaml", tmp_path / "router.log"
    segment = {"country": "DE\nINFO forged"}
    with Receiver(pagerduty_responder) as rx:
        raw = route_config(rx.url, metrics={"port": port})
        raw["grouping"] = {**raw["grouping"], "group_by": ["model", "kind", "segment"]}
        config.write_text(yaml.safe_dump(raw))
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "detector.cli", "route", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=dict(os.environ),
            )
        try:

            def ready() -> bool:
                try:
                    return probe(port, "/readyz") == (200, "ok")
                except OSError:
                    return False

            assert rx.wait_for(ready, 60), log.read_text()
            produce_alerts(
                kafka_bootstrap, router_topics["alerts"], [alert_event("amount", segment=segment)]
            )
            sent = ("drift_router_notifications_sent_total", (("sink", "pd"),))
            assert rx.wait_for(lambda: scrape(port).get(sent) == 1, 60), log.read_text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    lines = log.read_text().splitlines()
    notified = [line for line in lines if " notification " in line]
    assert len(notified) == 1 and "country=DE\\nINFO forged" in notified[0]
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ |^route summary: ")
    assert all(stamp.match(line) for line in lines), lines


def test_prometheus_scrapes_the_router_under_its_job_name(
    kafka_bootstrap: str, router_topics: dict[str, str], route_config: MakeConfig, tmp_path: Path
) -> None:
    """A real Prometheus (job kafka-drift-router) scrapes the running router: up is 1 and the
    delivery shows in drift_router_notifications_sent_total."""
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (Debian package: prometheus)")
    with Receiver(pagerduty_responder) as rx:
        router = Router(parse_router_config(route_config(rx.url)))
        with serve_router(router.config, router.metrics) as server, RouterThread(router):
            assert server is not None
            produce_alerts(kafka_bootstrap, router_topics["alerts"], [alert_event("amount")])
            assert rx.wait_for(lambda: len(rx.accepted()) == 1, 60)
            with PrometheusProcess(tmp_path, f"127.0.0.1:{server.port}") as prometheus:
                job = PrometheusProcess.JOB
                sent = f'drift_router_notifications_sent_total{{job="{job}", sink="pd"}}'

                def scraped() -> bool:
                    up = prometheus.query(f'up{{job="{job}"}}')
                    found = prometheus.query(sent)
                    return bool(up and found) and up[0]["value"][1] == found[0]["value"][1] == "1"

                assert rx.wait_for(scraped, 60)
