"""Real servers on 127.0.0.1 for the router's tests: HTTP receivers, Alertmanager, the router.

The receivers shaped like PagerDuty and Slack are in :mod:`.receivers` (re-exported here).
:class:`AlertmanagerProcess` and :class:`PrometheusProcess` (one :class:`ServerProcess`) run
Debian's ``prometheus-alertmanager`` and ``prometheus``; :class:`RouterThread` runs a router in a
thread; :func:`alert_event` builds alert CloudEvents as the detector writes them.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson
from confluent_kafka import Consumer, TopicPartition

from detector.alerts import AlertEvent, alert_bytes, dedup_key, rfc3339, segment_label
from detector.routing.receivers import (
    SLACK_PATH,
    Receiver,
    Request,
    SlackReceiver,
    pagerduty_responder,
    pagerduty_v2_errors,
    slack_render,
    slack_responder,
)
from detector.testing.kafka_broker import free_port
from detector.testing.kafka_io import produce_records

__all__ = [
    "SLACK_PATH",
    "AlertmanagerProcess",
    "PrometheusProcess",
    "Receiver",
    "Request",
    "RouterThread",
    "SlackReceiver",
    "alert_event",
    "committed_offsets",
    "end_offsets",
    "pagerduty_responder",
    "pagerduty_v2_errors",
    "produce_alerts",
    "slack_render",
    "slack_responder",
]

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ALERT_PARTITIONS = 3  # of the alerts topic in the router tests


def alert_event(
    feature: str,
    status: str = "firing",
    segment: dict[str, str] | None = None,
    model: str = "fraud",
    severity: str = "critical",
    started: float = 41.71,
    observed: float | None = None,
    series_events: int = 1402,
) -> AlertEvent:
    """An alert like the detector's (times are seconds after 2026-01-01T00:00:00Z)."""
    segment = segment or {}
    key = dedup_key(model, "drift", feature, segment)
    observed = started if observed is None else observed
    firing = status == "firing"
    where = f"segment {segment_label(segment)}" if segment else "all traffic"
    summary = (
        f"[{model}] {feature} drifted in {where}: mean 99.88 -> 122.3 "
        "(+1.11 sd) over the last 67 values (page_hinkley, cusum_sd=50.7 > 50)"
        if firing
        else f"[{model}] {feature} in {where} is back in line with its "
        f"reference after 3 detection(s) since {rfc3339(T0 + started)}: mean 100.1"
    )
    data = {
        "model": model,
        "kind": "drift",
        "detector": "page_hinkley" if firing else "score_window",
        "status": status,
        "severity": severity,
        "feature": feature,
        "segment": segment,
        "observed_at": rfc3339(T0 + observed),
        "started_at": rfc3339(T0 + started),
        "statistic": "cusum_sd" if firing else "mean_score_sd",
        "value": 50.73 if firing else 0.1,
        "threshold": 50.0 if firing else 0.55,
        "window": {
            "count": 67,
            "first_event_time": rfc3339(T0 + started - 1),
            "last_event_time": rfc3339(T0 + observed),
        },
        "reference": {"count": 1000, "mean": 99.88, "std": 20.2, "min": 39.7, "p50": 99.7},
        "current": {"count": 67, "mean": 122.3, "std": 20.1, "min": 78.7, "p50": 121.6},
        "series_events": series_events,
        "detections": 1,
        "dedup_key": key,
        "summary": summary,
    }
    ident = hashlib.sha256(f"{key}|{status}|{series_events}".encode()).hexdigest()[:32]
    return AlertEvent.model_validate(
        {
            "id": ident,
            "source": f"/drift-detector/{model}",
            "subject": f"{feature}/{segment_label(segment)}",
            "time": data["observed_at"],
            "data": data,
        }
    )


class ServerProcess:
    """A Prometheus-family server (``name`` is its binary and log name) on a free 127.0.0.1
    port: started with :meth:`args`, ready once ``/-/ready`` answers 200, stopped on exit."""

    name = ""
    start_seconds = 30.0

    def __init__(self, workdir: Path, binary: str) -> None:
        self.workdir, self.binary = workdir, binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
        """The command line after the binary (writes the config it names)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        log = (self.workdir / f"{self.name}.log").open("wb")
        self._proc = subprocess.Popen(
            [self.binary, *self.args()],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        until = time.monotonic() + self.start_seconds
        while time.monotonic() < until and self._proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        tail = (self.workdir / f"{self.name}.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name} did not become ready:\n{tail}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:
            return orjson.loads(response.read())


class AlertmanagerProcess(ServerProcess):
    """``prometheus-alertmanager``, clustering off, sending to one webhook receiver."""

    name = "alertmanager"

    def __init__(self, workdir: Path, webhook_url: str, binary: str | None = None) -> None:
        super().__init__(
            workdir, binary or shutil.which("prometheus-alertmanager") or "alertmanager"
        )
        self.webhook_url = webhook_url

    def args(self) -> list[str]:
        config = self.workdir / "alertmanager.yml"
        config.write_text(
            "route:\n  receiver: hook\n  group_by: [model]\n  group_wait: 100ms\n"
            "  group_interval: 500ms\n  repeat_interval: 1h\n"
            f"receivers:\n  - name: hook\n    webhook_configs:\n"
            f"      - url: {self.webhook_url}\n        send_resolved: true\n"
        )
        return [
            f"--config.file={config}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds as not resolved."""
        result: list[dict[str, Any]] = self.get_json("/api/v2/alerts")
        return result


class PrometheusProcess(ServerProcess):
    """Debian's ``prometheus`` scraping ``target`` every second under the Prometheus job name
    the deployment uses for the router."""

    name = "prometheus"
    start_seconds = 60.0
    JOB = "kafka-drift-router"

    def __init__(self, workdir: Path, target: str, binary: str | None = None) -> None:
        super().__init__(workdir, binary or shutil.which("prometheus") or "prometheus")
        self.target = target

    def args(self) -> list[str]:
        config = self.workdir / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s}\nscrape_configs:\n"
            f"  - job_name: {self.JOB}\n    static_configs: [{{targets: ['{self.target}']}}]\n"
        )
        return [
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--storage.tsdb.path={self.workdir / 'tsdb'}",
            "--log.level=warn",
        ]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        found = self.get_json(f"/api/v1/query?query={urllib.parse.quote(promql)}")
        result: list[dict[str, Any]] = found["data"]["result"]
        return result


class RouterThread:
    """``Router.run()`` in a daemon thread: ready within ``deadline`` s, stopped on exit."""

    def __init__(self, router: Any, deadline: float = 60.0) -> None:
        self.router = router
        self.deadline = deadline
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._target, daemon=True)

    def _target(self) -> None:
        try:
            self.router.run()
        except BaseException as exc:
            self.error = exc
            self.router.ready.set()

    def __enter__(self) -> Any:
        self._thread.start()
        if not self.router.ready.wait(self.deadline) or self.error is not None:
            self.router.stop()
            raise RuntimeError(f"router did not start: {self.error!r}")
        return self.router

    def __exit__(self, *exc: object) -> None:
        self.router.stop()
        self._thread.join(self.deadline)
        if self._thread.is_alive():
            raise RuntimeError(f"router did not stop within {self.deadline}s")
        if self.error is not None:
            raise self.error


def produce_alerts(
    bootstrap: str, topic: str, alerts: list[AlertEvent], partition: int | None = None
) -> None:
    """Write alerts as the detector does: keyed by dedup_key, value = CloudEvent JSON."""
    records = [(a.data.dedup_key.encode(), alert_bytes(a)) for a in alerts]
    produce_records(bootstrap, topic, records, partition=partition)


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The router group's committed offsets (negative when none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = [TopicPartition(topic, p) for p in range(ALERT_PARTITIONS)]
        return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=30)}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "route-watermarks"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in range(ALERT_PARTITIONS)
        }
    finally:
        consumer.close()
