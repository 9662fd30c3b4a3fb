"""Fixtures for the router's Kafka tests: its topics and a config pointing at test receivers."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from detector.routing.testing import ALERT_PARTITIONS

FAST = {  # every duration small, so no test sleeps long; none is asserted
    "grouping": {
        "group_wait": "300ms",
        "group_interval": "500ms",
        "repeat_interval": 0,
        "flap_window": "300ms",
    },
    "delivery": {"initial_backoff": "50ms", "max_backoff": "400ms", "timeout": "3s"},
    "metrics": {"port": 0},  # router processes never compete for 9465
}


@pytest.fixture
def router_topics(kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    """Fresh alerts (3 partitions), state and silences (compacted) and dead-letter topics."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    tag = uuid.uuid4().hex[:10]
    names = {k: f"route-{k}-{tag}" for k in ("alerts", "dead_letter", "state", "silences")}
    compact = {"cleanup.policy": "compact"}
    new = [
        NewTopic(names["alerts"], ALERT_PARTITIONS, 1),
        NewTopic(names["dead_letter"], 1, 1),
        NewTopic(names["state"], 1, 1, config=compact),
        NewTopic(names["silences"], 1, 1, config=compact),
    ]
    for future in admin.create_topics(new, operation_timeout=30).values():
        future.result(timeout=30)
    until = time.monotonic() + 30  # metadata may lag behind creation
    while not set(names.values()) <= set(admin.list_topics(timeout=10).topics):
        assert time.monotonic() < until, "created topics never showed up in metadata"
        time.sleep(0.1)
    yield names
    for future in admin.delete_topics(list(names.values()), operation_timeout=30).values():
        with contextlib.suppress(Exception):
            future.result(timeout=30)


@pytest.fixture
def route_config(
    kafka_bootstrap: str, router_topics: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., dict[str, Any]]:
    """``make(url, sinks=("pd",), **overrides)``: a raw router config for receivers at ``url``."""
    monkeypatch.setenv("TEST_PD_ROUTING_KEY", "R0UTINGKEY")
    group = f"router-{uuid.uuid4().hex[:8]}"

    def make(url: str, sinks: tuple[str, ...] = ("pd",), **overrides: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "kafka": {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
            },
            "topics": dict(router_topics),
            "models": {"*": {"runbook": "https://runbooks.example.com/{model}/{feature}"}},
            "sinks": {
                "pd": {
                    "type": "pagerduty",
                    "url": f"{url}/v2/enqueue",
                    "routing_key": "${TEST_PD_ROUTING_KEY}",
                },
                "hook": {"type": "webhook", "url": f"{url}/hook"},
                "am": {"type": "alertmanager", "url": url, "resend_interval": "1s"},
            },
            "routes": [{"name": "pages", "sinks": list(sinks)}],
            **FAST,
        }
        config.update(overrides)
        return config

    return make
