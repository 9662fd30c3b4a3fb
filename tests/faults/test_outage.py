"""The broker goes away for twice the session timeout while a worker reads a backlog: the
worker stays up, rejoins, and what a reader sees equals ``replay``."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from detector.testing.faults import (
    create_topics,
    drift_events,
    firings,
    moments,
    produce_spread,
    replay_alerts,
    scenario_config,
    unique,
)
from detector.testing.kafka_broker import LocalKafkaBroker, free_port
from detector.testing.workers import WorkerProcess, committed_alerts, wait_drained

pytestmark = pytest.mark.kafka

KAFKA_LIB_DIR = Path(__file__).resolve().parents[2] / ".kafka" / "lib"
SESSION_TIMEOUT_MS = 6000  # the broker's smallest allowed (group.min.session.timeout.ms)


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_broker_down_twice_the_session_timeout(tmp_path: Path, guarantee: str) -> None:
    """Mid-backlog, the only broker stops for 2 x session.timeout.ms and comes back: the worker
    is still running, finishes the backlog, leaves on SIGTERM with exit 0, and its alerts
    (deduplicated on (source, id)) are replay's, each at the same series event count."""
    broker = LocalKafkaBroker(tmp_path / "kafka", free_port(), free_port(), KAFKA_LIB_DIR)
    broker.start()
    try:
        bootstrap = broker.bootstrap_servers
        lines = [orjson.dumps(e) for e in drift_events(150_000)]
        topics = create_topics(bootstrap, {"events": 3, "alerts": 1, "dead_letter": 1})
        cfg = scenario_config(bootstrap, topics, guarantee=guarantee)
        cfg["kafka"].update(
            {"session.timeout.ms": SESSION_TIMEOUT_MS, "heartbeat.interval.ms": 1000}
        )
        reference = replay_alerts(cfg, lines)
        produce_spread(bootstrap, topics["events"], lines, 3)
        worker = WorkerProcess(cfg, tmp_path)
        try:
            worker.wait_for("assigned partitions", 120.0)
            time.sleep(random.Random(1).uniform(0.2, 1.0))
            broker.stop()
            time.sleep(2 * SESSION_TIMEOUT_MS / 1000)
            assert worker.process.poll() is None, worker.output()
            broker.start()
            group = cfg["kafka"]["group.id"]
            drained = [topics["events"], f"{group}-repartition"]
            wait_drained(bootstrap, group, drained, deadline=300.0, workers=[worker])
        finally:
            code = worker.terminate()
        assert code == 0, worker.output()
        alerts = committed_alerts(bootstrap, topics["alerts"], len(reference))
        kept = unique(alerts)
        if guarantee == "exactly_once":
            assert Counter(a["id"] for a in alerts) == Counter(a["id"] for a in reference)
        assert moments(kept) == moments(reference), worker.output()
        assert firings(kept) == firings(reference)
    finally:
        broker.stop()
