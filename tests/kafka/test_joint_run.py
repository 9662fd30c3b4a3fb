"""The joint test in `run`: its units go through the changelog, and a worker restarted at the
change continues from the reference it learned before (the alerts are replay's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from detector.alerts import AlertEvent, alert_bytes
from detector.config import parse_config
from detector.joint import FEATURE
from detector.replay import replay
from detector.testing.joint import CorrelationChange, JointStream
from detector.testing.kafka_io import run_with_a_restart

pytestmark = pytest.mark.kafka

N_EVENTS = 12_000
CHANGE = CorrelationChange(N_EVENTS // 2, ("amount", "latency"), -0.2)


def test_restart_at_the_change_keeps_the_joint_reference(
    kafka_bootstrap: str, topic_factory: Callable[..., str], group: str
) -> None:
    """Half the events, a stop, the rest (all after the change) to a new worker: the alert
    records equal replay's byte for byte, joint alerts among them. A worker that lost the
    joint units' state would learn its reference from changed rows and stay quiet."""
    stream = JointStream(seed=21)
    cfg: dict[str, Any] = stream.config()
    for key in ("label", "prediction"):
        cfg.pop(key)
    cfg["topics"] = {
        "events": topic_factory(1),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    cfg["kafka"] = {"bootstrap.servers": kafka_bootstrap, "group.id": group}
    cfg["detection"] = {"joint": {"enabled": True}}
    config = parse_config(cfg)
    lines = [orjson.dumps(e) for e in stream.events(N_EVENTS, [CHANGE])]
    expected: list[AlertEvent] = []
    replay(config, lines, expected.append)
    joint = [a for a in expected if a.data.feature == FEATURE and a.data.status == "firing"]
    assert joint and min(a.data.series_events for a in joint if not a.data.segment) > N_EVENTS // 2

    values = run_with_a_restart(kafka_bootstrap, config, lines, N_EVENTS // 2)
    assert values == [alert_bytes(a) for a in expected]
