"""A configured river detector in `run`: its state goes through the changelog, and a worker
restarted in the middle of a change continues it exactly (the alerts are replay's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from detector.alerts import AlertEvent, alert_bytes
from detector.config import parse_config
from detector.replay import replay
from detector.testing.kafka_io import run_with_a_restart
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

pytestmark = pytest.mark.kafka

N_EVENTS = 16_000
# A small shift from 7,000 on: river's Page-Hinkley (slack 0.25 sd) needs hundreds of events
# of it, so it detects after the restart at 8,000 with sums it accumulated before it.
DRIFT = Drift("amount", 7_000, 0.4, ("country", "DE"))
PLUGIN = {
    "detector": "PageHinkley",
    "params": {"delta": 0.25, "threshold": 25.0, "min_instances": 30},
    "features": ["amount"],
}


def test_restart_mid_change_continues_the_plugin_exactly(
    kafka_bootstrap: str, topic_factory: Callable[..., str], group: str
) -> None:
    """Half the events, a stop, the rest to a new worker: the alert records equal replay's
    byte for byte, and river.PageHinkley's detection (after the restart) is among them."""
    stream = SyntheticStream(numeric=["amount"], categorical={}, seed=9)
    topics = {
        "events": topic_factory(1),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    cfg: dict[str, Any] = config_dict(stream, "fraud", topics)
    cfg["kafka"] = {"bootstrap.servers": kafka_bootstrap, "group.id": group}
    cfg["detection"] = {"adwin_delta": 1e-300, "ph_threshold": 1e9, "plugins": [PLUGIN]}
    config = parse_config(cfg)
    lines = [orjson.dumps(e) for e in stream.events(N_EVENTS, [DRIFT])]
    expected: list[AlertEvent] = []
    replay(config, lines, expected.append)
    plugin_firings = [
        a.data.series_events
        for a in expected
        if a.data.detector == "river.PageHinkley" and a.data.status == "firing"
    ]
    assert plugin_firings and min(plugin_firings) > N_EVENTS // 2  # after the restart

    values = run_with_a_restart(kafka_bootstrap, config, lines, N_EVENTS // 2)
    assert values == [alert_bytes(a) for a in expected]
