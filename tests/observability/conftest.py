"""Fixtures for the observability tests: a drifted workload and engine, HTTP, a running worker."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector.config import Config, parse_config
from detector.engine import Engine
from detector.events import Decoder
from detector.kafka.worker import Worker
from detector.observability.http import ObservabilityServer, serve_worker
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

DRIFT_SEGMENT = ("country", "DE")


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes

    def json(self) -> object:
        return orjson.loads(self.body)


def get(url: str, accept: str | None = None, timeout: float = 10.0) -> Response:
    """GET ``url``; HTTP errors come back as a response, not an exception."""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return Response(reply.status, reply.headers.get("Content-Type", ""), reply.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, err.headers.get("Content-Type", ""), err.read())


@pytest.fixture
def fetch() -> Callable[..., Response]:
    """The HTTP getter, as a fixture."""
    return get


def drift_stream(seed: int = 7) -> SyntheticStream:
    """Two numeric features, one categorical, four countries (as tests/kafka uses)."""
    return SyntheticStream(
        numeric=["amount", "latency"],
        categorical={"mcc": {"5411": 0.2, "5812": 0.4, "5999": 0.4}},
        segments={"country": ["DE", "FR", "US", "GB"]},
        seed=seed,
    )


def drift_events(stream: SyntheticStream, n: int) -> list[bytes]:
    """``n`` events, ``amount`` +1 sd for country=DE from the middle on."""
    drift = Drift("amount", n // 2, 1.0, DRIFT_SEGMENT)
    return [orjson.dumps(e) for e in stream.events(n, [drift])]


def run_engine(config: Config, lines: list[bytes], batch: int = 2000) -> Engine:
    """A fresh engine fed ``lines`` in micro-batches, as replay does."""
    engine, decoder = Engine(config), Decoder(config)
    for start in range(0, len(lines), batch):
        values = lines[start : start + batch]
        result = decoder.decode(values, [float(start + i + 1) for i in range(len(values))])
        engine.process(result.batch)
    return engine


@dataclass
class Workload:
    """A seeded stream with one injected drift: its events, and configs for them."""

    stream: SyntheticStream
    lines: list[bytes]

    def config(self, **overrides: object) -> Config:
        """The stream's config; ``overrides`` replace top-level sections (topics, kafka, ...)."""
        data = config_dict(self.stream, "fraud", {"events": "e", "alerts": "a", "dead_letter": "d"})
        data.update(overrides)
        return parse_config(data)


@pytest.fixture(scope="session")
def workload() -> Workload:
    """16,000 events with a 1 sd shift of amount in country=DE from the middle on."""
    stream = drift_stream()
    return Workload(stream, drift_events(stream, 16_000))


@pytest.fixture(scope="session")
def drifted_engine(workload: Workload) -> Engine:
    """An engine that has processed the whole workload (its DE amount series fires)."""
    return run_engine(workload.config(), workload.lines)


def _require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package: prometheus; see .ci/run)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool; skipped locally when missing, a failure in CI (which installs it)."""
    return _require_binary("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """Path of the Prometheus server; skipped locally when missing, a failure in CI."""
    return _require_binary("prometheus")


WORKER_DEADLINE = 60.0  # seconds for the worker thread to stop after stop()


@contextlib.contextmanager
def _running(config: Config) -> Iterator[tuple[Worker, ObservabilityServer]]:
    worker = Worker(config)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            worker.run()
        except BaseException as exc:  # surfaced when the block ends
            errors.append(exc)

    with serve_worker(config, worker.metrics) as server:
        assert server is not None, "the metrics server did not start"
        thread = threading.Thread(target=target, name="worker", daemon=True)
        thread.start()
        try:
            yield worker, server
        finally:
            worker.stop()
            thread.join(WORKER_DEADLINE)
    assert not thread.is_alive(), f"the worker did not stop within {WORKER_DEADLINE:.0f} s"
    if errors:
        raise errors[0]


@pytest.fixture
def running_worker() -> Callable[[Config], contextlib.AbstractContextManager[Any]]:
    """``with running_worker(config) as (worker, server):`` a real Worker in a thread, serving
    /metrics on ``server.port``; stopped (bounded wait) when the block ends."""
    return _running


def wait_for(predicate: Callable[[], Any], deadline: float, what: str) -> Any:
    """Poll ``predicate`` every 0.2 s until it returns something truthy; fail past ``deadline``."""
    until = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > until:
            pytest.fail(f"timed out after {deadline:.0f} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def poll_until() -> Callable[..., Any]:
    """The bounded waiter, as a fixture."""
    return wait_for


def _stderr_on_a_pty(args: list[str], cwd: Path, deadline: float = 60.0) -> tuple[int, bytes]:
    """Run a command with stderr on a pseudo-terminal; return its exit code and what it drew."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=slave, cwd=cwd)
    os.close(slave)
    drawn = b""
    until = time.monotonic() + deadline
    try:
        while time.monotonic() < until:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.wait(timeout=30), drawn


@pytest.fixture
def on_a_pty() -> Callable[..., tuple[int, bytes]]:
    """``on_a_pty(args, cwd) -> (exit code, bytes drawn on stderr)``, stderr being a terminal."""
    return _stderr_on_a_pty
