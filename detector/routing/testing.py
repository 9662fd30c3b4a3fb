"""Real servers on 127.0.0.1 for the router's tests: an HTTP receiver and Alertmanager.

:class:`Receiver` is a threaded ``http.server`` that records every request and answers what the
test asks: 202, a 503 outage, a 400, or a held request (to kill the router mid-delivery).
:class:`AlertmanagerProcess` runs Debian's ``prometheus-alertmanager``. :func:`alert_event`
builds alert CloudEvents as the detector writes them.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from detector.alerts import AlertEvent, alert_bytes, dedup_key, rfc3339, segment_label
from detector.testing.kafka_broker import free_port
from detector.testing.kafka_io import produce_records

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


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any
    status: int


Responder = Callable[[Request], int]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, killed router) is part of the scenarios: no trace."""


class Receiver:
    """An HTTP server recording JSON POSTs; ``respond`` picks each status (default 202)."""

    def __init__(self, respond: Responder | None = None) -> None:
        self.requests: list[Request] = []
        self.respond: Responder = respond or (lambda request: 202)
        self.hold = threading.Event()  # set: requests block until `release` is set
        self.release = threading.Event()
        self.held = threading.Event()  # set once a request is being held
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = orjson.loads(raw) if raw else None
                request = Request(self.path, dict(self.headers.items()), body, 0)
                request.status = receiver.respond(request)
                with receiver._lock:
                    receiver.requests.append(request)
                if receiver.hold.is_set():
                    receiver.held.set()
                    receiver.release.wait(60)
                payload = b'{"status":"success","message":"Event processed"}'
                if request.status >= 400:
                    payload = b'{"status":"invalid event","message":"rejected by the test"}'
                self.send_response(request.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def accepted(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.status < 300 and path in (None, r.path)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Poll ``predicate`` until true or ``timeout`` seconds passed (never asserts time)."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()


class AlertmanagerProcess:
    """``prometheus-alertmanager`` on a free 127.0.0.1 port, clustering off."""

    def __init__(self, workdir: Path, webhook_url: str, binary: str | None = None) -> None:
        self.workdir = workdir
        self.webhook_url = webhook_url
        self.binary = binary or shutil.which("prometheus-alertmanager") or "alertmanager"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> AlertmanagerProcess:
        config = self.workdir / "alertmanager.yml"
        config.write_text(
            "route:\n  receiver: hook\n  group_by: [model]\n  group_wait: 100ms\n"
            "  group_interval: 500ms\n  repeat_interval: 1h\n"
            f"receivers:\n  - name: hook\n    webhook_configs:\n"
            f"      - url: {self.webhook_url}\n        send_resolved: true\n"
        )
        log = (self.workdir / "alertmanager.log").open("wb")
        self._proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        until = time.monotonic() + 30
        while time.monotonic() < until and self._proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        tail = (self.workdir / "alertmanager.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"alertmanager did not become ready:\n{tail}")

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

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds as not resolved."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as response:
            result: list[dict[str, Any]] = orjson.loads(response.read())
            return result


_PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
_PD_SEVERITIES = {"critical", "error", "warning", "info"}


def pagerduty_v2_errors(body: Any) -> list[str]:
    """What PagerDuty's Events API v2 would reject in ``body`` (empty list: valid)."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    errors = []
    if not isinstance(body.get("routing_key"), str) or not body["routing_key"]:
        errors.append("routing_key missing")
    action = body.get("event_action")
    if action not in _PD_ACTIONS:
        errors.append(f"event_action {action!r}")
    key = body.get("dedup_key")
    if action != "trigger" and not key:
        errors.append("dedup_key is required for acknowledge and resolve")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        errors.append("dedup_key must be a string of at most 255 characters")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "payload missing"]
        for name in ("summary", "source", "severity"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                errors.append(f"payload.{name} missing")
        if len(payload.get("summary") or "") > 1024:
            errors.append("payload.summary longer than 1024")
        if payload.get("severity") not in _PD_SEVERITIES:
            errors.append(f"payload.severity {payload.get('severity')!r}")
        for link in body.get("links") or []:
            if not isinstance(link, dict) or not str(link.get("href", "")).startswith("http"):
                errors.append(f"bad link {link!r}")
    if len(orjson.dumps(body)) > 512 * 1024:
        errors.append("larger than 512 KB")
    return errors


def pagerduty_responder(request: Request) -> int:
    """202 for a valid Events API v2 body on /v2/enqueue, 400 otherwise (as PagerDuty does)."""
    return 202 if request.path == "/v2/enqueue" and not pagerduty_v2_errors(request.body) else 400


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
