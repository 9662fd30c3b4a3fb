"""Backlogs over many partitions, read by one worker, by three, and with workers joining and
leaving mid-way: every unit sees its rows in key order, so the alerts are ``replay``'s."""

from __future__ import annotations

import random
import time
from pathlib import Path

import orjson
import pytest

from detector.testing.faults import (
    WINDOW,
    committed_progress,
    create_topics,
    drift_events,
    far_from,
    firings,
    moments,
    produce_spread,
    replay_alerts,
    scenario_config,
    unique,
)
from detector.testing.labelled import ErrorChange, LabelledStream
from detector.testing.workers import WorkerProcess, committed_alerts, wait_drained

pytestmark = pytest.mark.kafka

N_EVENTS = 24_000


def _backlog(
    bootstrap: str, partitions: int, events: int = N_EVENTS, guarantee: str = "at_least_once"
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """A drift backlog spread over ``partitions``, its config and replay's alerts."""
    lines = [orjson.dumps(e) for e in drift_events(events)]
    topics = create_topics(bootstrap, {"events": partitions, "alerts": 3, "dead_letter": 1})
    cfg = scenario_config(bootstrap, topics, guarantee=guarantee)
    produce_spread(bootstrap, topics["events"], lines, partitions)
    reference = replay_alerts(cfg, lines)
    assert len(firings(reference)) >= 3
    return cfg, reference


@pytest.mark.parametrize(
    ("workers", "guarantee"), [(1, "at_least_once"), (3, "at_least_once"), (3, "exactly_once")]
)
def test_twelve_partitions_give_replays_alerts(
    kafka_bootstrap: str, tmp_path: Path, workers: int, guarantee: str
) -> None:
    """A backlog on 12 partitions read with ``run --until-end`` by one worker or three: every
    worker exits 0 (leaving the group commits nothing twice), and the alerts are replay's, each
    at the same series event count (so within one window of it, and nothing else fires)."""
    cfg, reference = _backlog(kafka_bootstrap, 12, guarantee=guarantee)
    processes = [WorkerProcess(cfg, tmp_path, until_end=True) for _ in range(workers)]
    codes = [p.wait(240.0) for p in processes]
    assert codes == [0] * workers, [p.output() for p in processes]
    topic = str(cfg["topics"]["alerts"])  # type: ignore[index]
    alerts = unique(committed_alerts(kafka_bootstrap, topic, len(reference)))
    assert not far_from(alerts, reference, WINDOW)
    assert moments(alerts) == moments(reference)


def test_workers_joining_and_leaving_mid_backlog_give_replays_alerts(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """One worker starts on a 12-partition backlog, a second joins, the first leaves (SIGTERM):
    units move with their state and merges, and the alerts are replay's."""
    cfg, reference = _backlog(kafka_bootstrap, 12, events=150_000)  # a few seconds' work
    group = str(cfg["kafka"]["group.id"])  # type: ignore[index]
    topics = [str(cfg["topics"]["events"]), f"{group}-repartition"]  # type: ignore[index]
    rng = random.Random(3)
    first = WorkerProcess(cfg, tmp_path)
    workers = [first]
    try:
        first.wait_for("assigned partitions", 120.0)
        workers.append(WorkerProcess(cfg, tmp_path))
        workers[1].wait_for("assigned partitions", 120.0)
        joined = committed_progress(kafka_bootstrap, group, topics[1])
        time.sleep(rng.uniform(0.0, 0.5))
        assert first.terminate() == 0, first.output()
        wait_drained(kafka_bootstrap, group, topics, deadline=240.0, workers=workers)
    finally:
        codes = [w.terminate() for w in workers]
    assert codes == [0, 0], [w.output() for w in workers]
    assert joined < 1.0, "the second worker should join while the backlog is processed"
    assert "restored" in workers[1].output()
    topic = str(cfg["topics"]["alerts"])  # type: ignore[index]
    alerts = unique(committed_alerts(kafka_bootstrap, topic, len(reference)))
    assert not far_from(alerts, reference, WINDOW)
    assert moments(alerts) == moments(reference)


@pytest.mark.parametrize("workers", [1, 2])
def test_labelled_backlog_on_four_partitions_gives_replays_alerts(
    kafka_bootstrap: str, tmp_path: Path, workers: int
) -> None:
    """Events and labels, each a backlog on four partitions (keyed at random, not
    co-partitioned): the error-rate rise fires as in replay --labels, at the same pair count,
    and nothing else differs."""
    stream = LabelledStream(seed=21, label_delay=(0.0, 30.0), lost=0.05)
    change = [ErrorChange(6_000, 0.15)]
    events = [orjson.dumps(r) for r in stream.events(16_000, change)]
    labels = [orjson.dumps(r) for r in stream.labels(16_000, change)]
    roles = {"events": 4, "labels": 4, "alerts": 1, "dead_letter": 1}
    topics = create_topics(kafka_bootstrap, roles)
    cfg = stream.config("fraud", topics)
    cfg["kafka"] = scenario_config(kafka_bootstrap, topics)["kafka"]
    cfg["metrics"] = {"enabled": False}
    cfg["label"]["ttl_seconds"] = 900
    produce_spread(kafka_bootstrap, topics["events"], events, 4)
    produce_spread(kafka_bootstrap, topics["labels"], labels, 4)
    reference = replay_alerts(cfg, events, labels)
    assert firings(reference)["fraud/performance/error/all"] == 1

    processes = [WorkerProcess(cfg, tmp_path, until_end=True) for _ in range(workers)]
    codes = [p.wait(240.0) for p in processes]
    assert codes == [0] * workers, [p.output() for p in processes]
    alerts = unique(committed_alerts(kafka_bootstrap, topics["alerts"], len(reference)))
    assert not far_from(alerts, reference, 1000)  # one performance window
    assert moments(alerts) == moments(reference)
