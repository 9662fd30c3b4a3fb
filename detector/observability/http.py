"""A small HTTP server for ``run``: ``/metrics``, ``/healthz`` and ``/readyz``.

It is the standard library's ``ThreadingHTTPServer`` in a daemon thread, so a slow scrape never
blocks the poll loop. ``/metrics`` speaks the Prometheus text format (or OpenMetrics when the
scraper asks for it), rendered by ``prometheus_client``. ``/healthz`` and ``/readyz`` answer 200
or 503 with a small JSON body that says why.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from detector.config import Config
from detector.observability.collectors import build_registry
from detector.observability.metrics import WorkerMetrics

log = logging.getLogger("detector.http")
Check = Callable[[], tuple[bool, dict[str, Any]]]
INDEX = b"kafka-drift-detector: /metrics /healthz /readyz /report\n"


class ObservabilityServer:
    """Serves a registry and two health checks until :meth:`close`."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        health: Check,
        ready: Check,
        report: Callable[[], str] | None = None,
    ) -> None:
        self.registry, self.health, self.ready, self.report = registry, health, ready, report
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "drift-detector"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                    try:
                        body = encoder(owner.registry)
                    except Exception:  # a scrape must never take the worker down
                        log.exception("rendering /metrics failed")
                        self._send(500, b"metrics unavailable\n", "text/plain; charset=utf-8")
                        return
                    self._send(200, body, content_type)
                elif path in ("/healthz", "/readyz"):
                    ok, detail = (owner.health if path == "/healthz" else owner.ready)()
                    self._send(200 if ok else 503, orjson.dumps(detail), "application/json")
                elif path == "/report" and owner.report is not None:
                    try:
                        page = owner.report().encode()
                    except Exception:  # a page view must never take the worker down
                        log.exception("rendering /report failed")
                        self._send(500, b"report unavailable\n", "text/plain; charset=utf-8")
                        return
                    self._send(200, page, "text/html; charset=utf-8")
                elif path == "/":
                    index = INDEX if owner.report else INDEX.replace(b" /report", b"")
                    self._send(200, index, "text/plain; charset=utf-8")
                else:
                    self._send(404, b"not found\n", "text/plain; charset=utf-8")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s %s", self.address_string(), format % args)

        return Handler

    def start(self) -> ObservabilityServer:
        self._thread.start()
        log.info("serving /metrics, /healthz and /readyz on http://%s:%d", self.host, self.port)
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)


def _live_report(metrics: WorkerMetrics) -> str:
    from datetime import UTC, datetime

    from detector.report import render

    return render(metrics.engine, datetime.now(UTC).isoformat(timespec="seconds"))


@contextlib.contextmanager
def serve_worker(config: Config, metrics: WorkerMetrics) -> Iterator[ObservabilityServer | None]:
    """Serve the worker's metrics and health while the block runs, if ``metrics.enabled``.

    A port that cannot be bound is logged as an error and the worker runs without the endpoint:
    alerting goes on, and Prometheus' ``up == 0`` (and a failing liveness probe) says why.
    """
    settings = config.metrics
    if not settings.enabled:
        yield None
        return
    registry = build_registry(metrics, metrics.engine, config.model, settings.series_cap)
    with serve(
        settings.host,
        settings.port,
        registry,
        metrics.health,
        metrics.readiness,
        report=lambda: _live_report(metrics),
    ) as server:
        yield server


@contextlib.contextmanager
def serve(
    host: str,
    port: int,
    registry: CollectorRegistry,
    health: Check,
    ready: Check,
    report: Callable[[], str] | None = None,
) -> Iterator[ObservabilityServer | None]:
    """An :class:`ObservabilityServer` while the block runs (the worker's and the router's).

    A port that cannot be bound is logged as an error and the block runs without the endpoint:
    alerting goes on, and Prometheus' ``up == 0`` (and a failing liveness probe) says why.
    """
    try:
        server = ObservabilityServer(host, port, registry, health, ready, report).start()
    except OSError as exc:
        log.error(
            "metrics: cannot listen on %s:%d (%s); running without /metrics and health endpoints",
            host,
            port,
            exc.strerror or exc,
        )
        yield None
        return
    try:
        yield server
    finally:
        server.close()
