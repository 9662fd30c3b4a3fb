"""SIGKILL at random points of a backlog over three partitions, restarted each time: what a
reader sees equals ``replay`` of the same events."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from detector.testing.faults import (
    committed_progress,
    create_topics,
    drift_events,
    firings,
    moments,
    produce_spread,
    replay_alerts,
    scenario_config,
    unique,
)
from detector.testing.workers import WorkerProcess, committed_alerts

pytestmark = pytest.mark.kafka

N_EVENTS = 240_000


@pytest.mark.parametrize(
    ("guarantee", "seed"), [("at_least_once", 5), ("at_least_once", 23), ("exactly_once", 8)]
)
def test_three_kills_then_the_alerts_of_replay(
    kafka_bootstrap: str, tmp_path: Path, guarantee: str, seed: int
) -> None:
    """Three SIGKILLs at seeded random points of the backlog, a restart after each:
    at-least-once, deduplicated on (source, id), the alerts are replay's, each fired at the
    same series event count and no dedup key fires more often; exactly-once commits exactly
    replay's alerts."""
    lines = [orjson.dumps(e) for e in drift_events(N_EVENTS)]
    topics = create_topics(kafka_bootstrap, {"events": 3, "alerts": 1, "dead_letter": 1})
    cfg = scenario_config(kafka_bootstrap, topics, guarantee=guarantee, commit_interval=0.2)
    cfg["run"]["batch_size"] = 1000
    cfg["kafka"].update(
        {
            "max.partition.fetch.bytes": 50_000,  # small fetches: many points to die at
            "session.timeout.ms": 6000,  # the group notices a killed worker within 6 s
            "heartbeat.interval.ms": 1000,
        }
    )
    reference = replay_alerts(cfg, lines)
    assert len(firings(reference)) >= 3
    produce_spread(kafka_bootstrap, topics["events"], lines, 3)
    rng = random.Random(seed)
    group = cfg["kafka"]["group.id"]
    repartition = f"{group}-repartition"
    interrupted = []
    for _ in range(3):
        worker = WorkerProcess(cfg, tmp_path)
        worker.wait_for("assigned partitions", 120.0)
        time.sleep(rng.uniform(0.0, 0.4))  # the backlog takes several seconds to get through
        worker.kill()
        done = [
            committed_progress(kafka_bootstrap, group, t) for t in (topics["events"], repartition)
        ]
        interrupted.append(min(done) < 1.0)
    assert sum(interrupted) >= 2, "the kills should land while the backlog is processed"
    final = WorkerProcess(cfg, tmp_path, until_end=True)
    assert final.wait(180.0) == 0, final.output()
    assert "restored" in final.output()

    alerts = committed_alerts(kafka_bootstrap, topics["alerts"], len(reference))
    if guarantee == "exactly_once":
        assert Counter(a["id"] for a in alerts) == Counter(a["id"] for a in reference)
        assert moments(alerts) == moments(reference)
    else:
        kept = unique(alerts)
        assert moments(kept) == moments(reference)
        assert firings(kept) == firings(reference)
