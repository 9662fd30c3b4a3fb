"""Estimated performance in `run`: no labels at all, a covariate shift right at a restart.
The performance unit's estimate series go through the changelog, so the worker after the
restart finds the drop exactly where replay does (the alert records are replay's)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector import Monitor
from detector.alerts import AlertEvent, alert_bytes
from detector.config import parse_config
from detector.labels.estimate import FEATURE
from detector.replay import replay
from detector.testing.joint import CovariateShift, JointStream
from detector.testing.kafka_io import run_with_a_restart

pytestmark = pytest.mark.kafka

N_EVENTS = 13_000  # the restart at 6,500 falls inside a window of 1,000 predictions
SHIFT = CovariateShift(N_EVENTS // 2, "amount", shrink=0.3)


def test_restart_at_a_covariate_shift_keeps_the_estimate(
    kafka_bootstrap: str, topic_factory: Callable[..., str], group: str, tmp_path: Path
) -> None:
    """A baseline with a calibration, events without labels: half, a stop, the rest (all
    shifted). The alert records equal replay's byte for byte, an estimated-performance alert
    among them, after the restart. The restart falls inside a window: a worker without the
    estimate series' state would count windows from the restart and alert at other events."""
    stream = JointStream(seed=31)
    cfg: dict[str, Any] = stream.config()
    baseline = Monitor.baseline_from(cfg, JointStream(seed=98).training(20_000))
    path = tmp_path / "baseline.json"
    path.write_bytes(baseline.to_json())
    cfg["baseline"] = str(path)
    cfg["topics"] = {
        "events": topic_factory(1),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    cfg["kafka"] = {"bootstrap.servers": kafka_bootstrap, "group.id": group}
    config = parse_config(cfg)
    lines = [orjson.dumps(e) for e in stream.events(N_EVENTS, [SHIFT])]
    expected: list[AlertEvent] = []
    replay(config, lines, expected.append)
    estimated = [a for a in expected if a.data.feature == FEATURE and a.data.status == "firing"]
    assert estimated and all(a.data.estimated for a in estimated)
    assert min(a.data.series_events for a in estimated if not a.data.segment) > N_EVENTS // 2

    values = run_with_a_restart(kafka_bootstrap, config, lines, N_EVENTS // 2)
    assert values == [alert_bytes(a) for a in expected]
