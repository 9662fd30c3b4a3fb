"""Shared fixtures: a real Kafka broker for the session and fresh topics per test.

Broker choice, first match wins:
1. ``KAFKA_BOOTSTRAP_SERVERS`` from the environment (e.g. one started with ``make kafka``);
2. a testcontainers ``KafkaContainer`` (KRaft) when a Docker engine answers;
3. a local broker from Maven Central jars (``detector.testing.kafka_broker``), jars cached in
   ``<repo>/.kafka/lib``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from detector.testing.kafka_broker import LocalKafkaBroker, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_LIB_DIR = REPO_ROOT / ".kafka" / "lib"


def _docker_available() -> bool:
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env()
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _kafka_container() -> Any:
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:  # testcontainers < 4.15
        from testcontainers.kafka import KafkaContainer
    return (
        KafkaContainer()
        .with_kraft()
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        # Records carry fixed 2026 event times: no time-based retention mid-test.
        .with_env("KAFKA_LOG_RETENTION_MS", "-1")
    )


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real Kafka broker shared by the whole test session."""
    from_env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if from_env:
        yield from_env
        return
    if _docker_available():
        with _kafka_container() as container:
            yield str(container.get_bootstrap_server())
        return
    port = free_port()
    controller_port = free_port()
    while controller_port == port:
        controller_port = free_port()
    workdir = tmp_path_factory.mktemp("kafka")
    with LocalKafkaBroker(workdir, port, controller_port, KAFKA_LIB_DIR) as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """A ``make_topic(partitions=1) -> name`` callable creating uniquely named topics."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    created: list[str] = []

    def make_topic(partitions: int = 1) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        new = NewTopic(name, num_partitions=partitions, replication_factor=1)
        admin.create_topics([new], operation_timeout=30)[name].result(timeout=30)
        created.append(name)
        return name

    yield make_topic
    if created:  # best effort: keeps a shared (env-provided) broker tidy
        for future in admin.delete_topics(created, operation_timeout=30).values():
            with contextlib.suppress(Exception):
                future.result(timeout=30)
