"""A live stream over 12 partitions and 3 workers detects like one partition and one worker."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from detector.testing.faults import (
    WINDOW,
    create_topics,
    drift_events,
    far_from,
    firings,
    scenario_config,
    unique,
)
from detector.testing.kafka_io import produce_records
from detector.testing.workers import WorkerProcess, committed_alerts, wait_drained

pytestmark = pytest.mark.kafka

N_EVENTS = 24_000


def test_twelve_partitions_three_workers_detect_like_one(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The same live stream (about 4k events/s), on 1 partition read by 1 worker and on 12 read
    by 3: the same series fire, each within one window of the same series event count. (Live,
    a partition briefly at its end does not hold the others back, so counts may differ a
    little; a backlog gives replay's counts exactly, see test_backlog.py.)"""
    lines = [orjson.dumps(e) for e in drift_events(N_EVENTS)]
    one = create_topics(kafka_bootstrap, {"events": 1, "alerts": 1, "dead_letter": 1})
    many = create_topics(kafka_bootstrap, {"events": 12, "alerts": 3, "dead_letter": 1})
    cfg_one, cfg_many = (
        scenario_config(kafka_bootstrap, one),
        scenario_config(kafka_bootstrap, many),
    )
    workers = [WorkerProcess(cfg_one, tmp_path)]
    workers += [WorkerProcess(cfg_many, tmp_path) for _ in range(3)]
    try:
        for worker in workers:
            worker.wait_for("assigned partitions", 120.0)
        records = [(f"k-{i}".encode(), line) for i, line in enumerate(lines)]
        for start in range(0, N_EVENTS, 1000):
            produce_records(kafka_bootstrap, one["events"], records[start : start + 1000])
            produce_records(kafka_bootstrap, many["events"], records[start : start + 1000])
            time.sleep(0.25)
        for cfg in (cfg_one, cfg_many):
            group = cfg["kafka"]["group.id"]
            topics = [cfg["topics"]["events"], f"{group}-repartition"]
            wait_drained(kafka_bootstrap, group, topics, deadline=240.0, workers=workers)
    finally:
        codes = [w.terminate() for w in workers]
    assert codes == [0, 0, 0, 0], [w.output() for w in workers]
    single = unique(committed_alerts(kafka_bootstrap, one["alerts"]))
    scaled = unique(committed_alerts(kafka_bootstrap, many["alerts"]))
    assert len(firings(single)) >= 3
    assert not far_from(scaled, single, WINDOW)
