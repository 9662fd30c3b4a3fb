"""Integration tests against a real broker (see tests/conftest.py for how it is provided)."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer

from detector.testing.kafka_broker import free_port
from detector.testing.kafka_io import consume_records

pytestmark = pytest.mark.kafka

REPO_ROOT = Path(__file__).resolve().parents[2]


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_produce_and_consume(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> None:
    """Three produced records are consumed back in order."""
    topic = topic_factory()
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(3):
        producer.produce(topic, value=f"record-{i}".encode())
    assert producer.flush(30) == 0
    assert [m.value() for m in consume_records(kafka_bootstrap, topic, 3)] == [
        b"record-0",
        b"record-1",
        b"record-2",
    ]


def test_transactional_produce(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> None:
    """A committed transaction is visible to a read_committed consumer."""
    topic = topic_factory()
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex[:8]}"}
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"committed")
    producer.commit_transaction(30)
    got = [m.value() for m in consume_records(kafka_bootstrap, topic, 1, "read_committed")]
    assert got == [b"committed"]


def test_cli_start_is_idempotent_and_stop_ends_broker(tmp_path: Path) -> None:
    """The CLI starts a detached broker, a second start is a no-op, and stop ends it."""
    port, controller_port = free_port(), free_port()
    workdir = tmp_path / "kafka"
    base = [sys.executable, "-m", "detector.testing.kafka_broker"]
    start = [*base, "start", "--dir", str(workdir), "--port", str(port)]
    start += ["--controller-port", str(controller_port), "--lib-dir", str(REPO_ROOT / ".kafka/lib")]
    stop = [*base, "stop", "--dir", str(workdir)]

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)

    try:
        first = run(start)
        assert first.returncode == 0, first.stderr
        assert f"127.0.0.1:{port}" in first.stdout
        assert _port_answers(port)
        second = run(start)
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout
    finally:
        stopped = run(stop)
    assert stopped.returncode == 0, stopped.stderr
    assert "Stopped" in stopped.stdout
    assert not _port_answers(port)
    assert not (workdir / "broker.pid").exists()
