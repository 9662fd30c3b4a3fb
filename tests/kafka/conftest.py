"""Fixtures the Kafka tests share (the broker itself comes from tests/conftest.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient


@pytest.fixture
def group(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh consumer group named after the test module; the worker's internal topics
    (named after the group) are deleted afterwards."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    name = f"{module}-{uuid.uuid4().hex[:8]}"
    yield name
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    internal = [t for t in admin.list_topics(timeout=30).topics if t.startswith(name)]
    if internal:
        for future in admin.delete_topics(internal, operation_timeout=30).values():
            with contextlib.suppress(Exception):
                future.result(timeout=30)
