"""``run`` with a labels topic against a real broker: the join, performance alerts, partitioning.

Events and labels go to separate topics, as a model and a label pipeline would write them. Every
wait is bounded (the worker runs in a thread with a deadline).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector.alerts import AlertEvent, alert_bytes
from detector.config import Config, parse_config
from detector.kafka.report import WorkerReport
from detector.replay import replay
from detector.testing.kafka_io import consume_records, produce_records, run_until_end
from detector.testing.labelled import ErrorChange, LabelledStream
from detector.testing.workers import WorkerProcess, committed_alerts, wait_drained

pytestmark = pytest.mark.kafka

DEADLINE = 30.0
WORKER_DEADLINE = 120.0
N_EVENTS = 16_000
CHANGE = [ErrorChange(6_000, 0.15)]  # error rate 10% -> 15% in all traffic


def _raw_config(
    stream: LabelledStream, bootstrap: str, topics: dict[str, str], batch_size: int = 2000
) -> dict[str, Any]:
    cfg = stream.config("fraud", topics)
    cfg["kafka"] = {"bootstrap.servers": bootstrap, "group.id": f"drift-{uuid.uuid4().hex[:8]}"}
    cfg["label"]["ttl_seconds"] = 900
    cfg["run"] = {"batch_size": batch_size}
    return cfg


def _config(
    stream: LabelledStream, bootstrap: str, topics: dict[str, str], batch_size: int = 2000
) -> Config:
    return parse_config(_raw_config(stream, bootstrap, topics, batch_size))


def _topics(topic_factory: Callable[..., str], events: int, labels: int) -> dict[str, str]:
    """Fresh events and labels topics (partition counts given), alerts and dead letters."""
    return {
        "events": topic_factory(events),
        "labels": topic_factory(labels),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }


def _keyed(lines: Sequence[bytes]) -> list[tuple[bytes | None, bytes | None]]:
    """Records keyed by event id (both topics: a prediction and its label share a partition
    number, as many producers do, though the worker does not need it)."""
    return [(orjson.loads(line)["event_id"].encode(), line) for line in lines]


def _run_worker(config: Config) -> WorkerReport:
    return run_until_end(config, WORKER_DEADLINE)


def _lines(records: Sequence[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(r) for r in records]


def test_run_with_label_topic_equals_replay(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """One partition each: run's alerts are byte-identical to replay --labels, with a
    performance alert for the error-rate rise, and the join counters agree."""
    stream = LabelledStream(seed=21, label_delay=(0.0, 30.0), lost=0.05)
    events = _lines(stream.events(N_EVENTS, CHANGE))
    labels = _lines(stream.labels(N_EVENTS, CHANGE))
    topics = _topics(topic_factory, 1, 1)
    config = _config(stream, kafka_bootstrap, topics, batch_size=200)
    produce_records(kafka_bootstrap, topics["events"], _keyed(events))
    labelled = _keyed(labels)
    labelled.append((b"junk", b"{not json"))  # a bad label record goes to the dead-letter topic
    produce_records(kafka_bootstrap, topics["labels"], labelled)

    report = _run_worker(config)
    expected: list[AlertEvent] = []
    replayed = replay(config, events, expected.append, labels=labels)

    assert report.records == N_EVENTS
    assert report.labels == len(labels) + 1
    assert report.label_dead_letters == {"not_json": 1}
    performance = [a for a in expected if a.data.kind == "performance"]
    assert any(a.data.dedup_key == "fraud/performance/error/all" for a in performance)
    assert report.alerts == len(expected)
    records = consume_records(kafka_bootstrap, topics["alerts"], report.alerts)
    assert [r.value() for r in records] == [alert_bytes(a) for a in expected]
    assert replayed.engine is not None and replayed.engine.performance is not None
    stats = replayed.engine.performance.stats.as_dict()
    assert {k: report.join[k] for k in stats} == stats
    assert report.join["matched"] > 0.9 * len(labels)
    dlq = consume_records(kafka_bootstrap, topics["dead_letter"], 1)
    assert dict(dlq[0].headers() or [])["drift.errors.topic"] == topics["labels"].encode()


def test_empty_label_topic_lets_events_flow(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """A label topic at its end offset does not hold events back: data drift runs, and every
    prediction waits in the join."""
    stream = LabelledStream(seed=3)
    events = _lines(stream.events(3000))
    topics = _topics(topic_factory, 2, 2)
    produce_records(kafka_bootstrap, topics["events"], _keyed(events))

    report = _run_worker(_config(stream, kafka_bootstrap, topics))

    assert report.records == 3000 and report.labels == 0
    assert report.series > 0
    assert report.join["pending_predictions"] == 3000
    assert report.join["matched"] == 0


def test_labels_partitioned_unlike_the_events_equal_replay(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """Events on three partitions and labels on two, keyed at random: every row reaches the
    performance unit in key order, so the alerts are replay's (as a set: several repartition
    partitions produce them) with the same series event counts."""
    stream = LabelledStream(seed=5, label_delay=(0.0, 30.0), lost=0.05)
    events = _lines(stream.events(N_EVENTS, CHANGE))
    labels = _lines(stream.labels(N_EVENTS, CHANGE))
    topics = _topics(topic_factory, 3, 2)
    config = _config(stream, kafka_bootstrap, topics)
    produce_records(kafka_bootstrap, topics["events"], [(None, e) for e in events])
    produce_records(kafka_bootstrap, topics["labels"], [(None, x) for x in labels])

    report = _run_worker(config)
    expected: list[AlertEvent] = []
    replay(config, events, expected.append, labels=labels)

    assert report.records == N_EVENTS and report.labels == len(labels)
    assert any(a.data.dedup_key == "fraud/performance/error/all" for a in expected)
    records = consume_records(kafka_bootstrap, topics["alerts"], report.alerts)
    assert sorted(r.value() or b"" for r in records) == sorted(alert_bytes(a) for a in expected)


def test_two_workers_on_live_labelled_partitions_detect_the_error_rise(
    kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    """Events and labels on four partitions each, produced live and read by two worker
    processes: the performance unit gets every join half in key order, and the error-rate rise
    fires as in replay, after the change and within three windows of replay's pair count (a
    backlog gives replay's count exactly: tests/faults/test_backlog.py)."""
    stream = LabelledStream(seed=21, label_delay=(0.0, 30.0), lost=0.05)
    events = _lines(stream.events(N_EVENTS, CHANGE))
    labels = _lines(stream.labels(N_EVENTS, CHANGE))
    topics = _topics(topic_factory, 4, 4)
    cfg = _raw_config(stream, kafka_bootstrap, topics, batch_size=1000)
    group = cfg["kafka"]["group.id"]
    cfg["metrics"] = {"enabled": False}
    cfg["run"]["batch_timeout"] = 0.1
    cfg["processing"] = {"commit_interval": 0.5}
    expected: list[AlertEvent] = []
    replay(parse_config(cfg), events, expected.append, labels=labels)
    key = "fraud/performance/error/all"
    reference = next(a for a in expected if a.data.dedup_key == key)

    workers = [WorkerProcess(cfg, tmp_path) for _ in range(2)]
    try:
        time.sleep(8.0)  # both members in the group before the records come
        keyed = {topics["events"]: _keyed(events), topics["labels"]: _keyed(labels)}
        for start in range(0, N_EVENTS, 1000):  # a live stream, labels in step with events
            for topic, records in keyed.items():  # same key, same partition number
                produce_records(kafka_bootstrap, topic, records[start : start + 1000])
            time.sleep(0.25)
        drained = [topics["events"], topics["labels"], f"{group}-repartition"]
        wait_drained(kafka_bootstrap, group, drained, deadline=240.0, workers=workers)
    finally:
        codes = [w.terminate() for w in workers]
    assert codes == [0, 0], [w.output() for w in workers]
    assert all("owning units of" in w.output() for w in workers)  # both took part
    alerts = committed_alerts(kafka_bootstrap, topics["alerts"])
    fired = [a["data"] for a in alerts if a["data"]["dedup_key"] == key]
    assert fired and fired[0]["status"] == "firing", [a["data"]["dedup_key"] for a in alerts]
    pairs_at_change = 6_000 * 0.9  # labels lost at 5%, and some still in flight
    assert fired[0]["series_events"] > pairs_at_change
    assert abs(fired[0]["series_events"] - reference.data.series_events) <= 3 * 1000, (
        fired[0]["series_events"],
        reference.data.series_events,
    )
