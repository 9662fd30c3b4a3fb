"""``drift-detector run`` against a real broker: alerts, dead letters, offsets and the CLI.

The broker comes from the session fixture in tests/conftest.py. Every test uses fresh topics and
consumer groups, and every wait is bounded (the worker runs in a thread with a deadline).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from jsonschema import Draft202012Validator

from detector.alerts import CONTENT_TYPE, AlertEvent, alert_bytes
from detector.config import Config, parse_config
from detector.events import parse_time
from detector.kafka.report import WorkerReport
from detector.replay import replay
from detector.testing.kafka_io import consume_records, produce_records, run_until_end
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

pytestmark = pytest.mark.kafka

REPO_ROOT = Path(__file__).resolve().parents[2]
ALERT_SCHEMA = orjson.loads(
    (REPO_ROOT / "detector" / "schemas" / "alert.v1.schema.json").read_bytes()
)
DEADLINE = 30.0  # seconds for any single wait on the broker
WORKER_DEADLINE = 90.0

N_EVENTS = 16_000
DRIFT_SEGMENT = ("country", "DE")
DRIFTED = {("amount", (DRIFT_SEGMENT,)), ("amount", ())}  # the segment and all traffic


# --- helpers -------------------------------------------------------------------------------


def _stream(seed: int = 7) -> SyntheticStream:
    return SyntheticStream(
        numeric=["amount", "latency"],
        categorical={"mcc": {"5411": 0.2, "5812": 0.4, "5999": 0.4}},
        segments={"country": ["DE", "FR", "US", "GB"]},
        seed=seed,
    )


def _events(stream: SyntheticStream, n: int) -> list[dict[str, Any]]:
    """``n`` events with a 1 sd mean shift of ``amount`` in country=DE from the middle on."""
    return list(stream.events(n, [Drift("amount", n // 2, 1.0, DRIFT_SEGMENT)]))


def _config(
    stream: SyntheticStream,
    bootstrap: str,
    topics: dict[str, str],
    group: str | None = None,
    **event: Any,
) -> dict[str, Any]:
    cfg = config_dict(stream, "fraud", topics)
    cfg["kafka"] = {
        "bootstrap.servers": bootstrap,
        "group.id": group or f"drift-{uuid.uuid4().hex[:8]}",
    }
    cfg["event"].update(event)
    return cfg


def _end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=DEADLINE)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


def _run_worker(config: Config) -> WorkerReport:
    return run_until_end(config, WORKER_DEADLINE)


def _replay_alerts(config: Config, lines: Sequence[bytes]) -> list[AlertEvent]:
    alerts: list[AlertEvent] = []
    replay(config, lines, alerts.append)
    return alerts


def _firing(values: Sequence[bytes]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """(feature, segment items) of every firing alert among alert record values."""
    found = set()
    for value in values:
        data = orjson.loads(value)["data"]
        if data["status"] == "firing":
            found.add((data["feature"], tuple(data["segment"].items())))
    return found


@pytest.fixture
def drop_topics(kafka_bootstrap: str) -> Iterator[list[str]]:
    """Names appended here (topics the worker creates itself) are deleted after the test."""
    names: list[str] = []
    yield names
    if names:
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        for future in admin.delete_topics(names, operation_timeout=30).values():
            with contextlib.suppress(Exception):
                future.result(timeout=30)


# --- tests ---------------------------------------------------------------------------------


def test_one_partition_run_equals_replay(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """On one partition, the alert records are byte-identical to replay's, in the same order."""
    stream = _stream()
    lines = [orjson.dumps(e) for e in _events(stream, N_EVENTS)]
    topics = {
        "events": topic_factory(1),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    config = parse_config(_config(stream, kafka_bootstrap, topics))
    produce_records(kafka_bootstrap, topics["events"], [(None, line) for line in lines])

    report = _run_worker(config)
    expected = [alert_bytes(a) for a in _replay_alerts(config, lines)]

    assert report.records == N_EVENTS
    assert report.dead_letters == {}
    assert report.alerts == len(expected) > 0
    records = consume_records(kafka_bootstrap, topics["alerts"], report.alerts)
    assert [r.value() for r in records] == expected
    assert _end_offsets(kafka_bootstrap, topics["alerts"], 1) == {0: len(expected)}  # no extras
    assert ("amount", (DRIFT_SEGMENT,)) in _firing(expected)
    validator = Draft202012Validator(
        ALERT_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    for record in records:
        value = record.value()
        assert value is not None
        alert = orjson.loads(value)
        validator.validate(alert)
        assert record.key() == alert["data"]["dedup_key"].encode()
        assert record.headers() == [("content-type", CONTENT_TYPE.encode())]
    assert CONTENT_TYPE == "application/cloudevents+json; charset=UTF-8"


def test_three_partitions_same_series_fire(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """Spread over three partitions, exactly the series that fire in replay fire in run."""
    stream = _stream()
    events = _events(stream, N_EVENTS)
    lines = [orjson.dumps(e) for e in events]
    topics = {
        "events": topic_factory(3),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    config = parse_config(_config(stream, kafka_bootstrap, topics))
    keyed = [(e["event_id"].encode(), line) for e, line in zip(events, lines, strict=True)]
    produce_records(kafka_bootstrap, topics["events"], keyed)
    ends = _end_offsets(kafka_bootstrap, topics["events"], 3)
    assert all(end > 0 for end in ends.values()), ends  # the keys really spread

    report = _run_worker(config)
    replayed = _firing([alert_bytes(a) for a in _replay_alerts(config, lines)])
    records = consume_records(kafka_bootstrap, topics["alerts"], report.alerts)

    assert report.records == N_EVENTS
    assert len(records) == report.alerts
    assert replayed == DRIFTED  # the design: only the drifted series fire
    assert _firing([r.value() or b"" for r in records]) == replayed


def test_garbage_goes_to_dead_letter_topic(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """Each bad record lands on the DLQ with its reason and origin, and the worker carries on."""
    stream = _stream(seed=11)
    n = 12_000
    valid = [orjson.dumps(e) for e in _events(stream, n)]
    bad_time = orjson.loads(valid[0])
    bad_time["ts"] = "not a time"
    garbage: dict[int, tuple[bytes | None, str]] = {  # position among valid events -> record
        50: (b"\xff\xfe{not json", "not_json"),
        51: (b'[1, 2, {"a": 3}]', "not_object"),
        1500: (b'"just a string"', "not_object"),
        3000: (orjson.dumps({"pad": "x" * 5000}), "too_large"),
        4500: (orjson.dumps(bad_time), "bad_time"),
        5000: (None, "not_json"),  # a tombstone: no value at all
    }
    records: list[tuple[bytes | None, bytes | None]] = []
    expected_dlq: list[tuple[int, bytes | None, bytes | None, str]] = []  # offset, key, value
    for i, line in enumerate(valid):
        if i in garbage:
            value, reason = garbage[i]
            key = f"bad-{i}".encode()
            expected_dlq.append((len(records), key, value, reason))
            records.append((key, value))
        records.append((f"ok-{i}".encode(), line))
    timestamps = [1_767_225_600_000 + i for i in range(len(records))]
    topics = {
        "events": topic_factory(1),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    config = parse_config(_config(stream, kafka_bootstrap, topics, max_bytes=2000))
    assert max(len(v) for v in valid) < 2000
    produce_records(kafka_bootstrap, topics["events"], records, partition=0, timestamps=timestamps)

    report = _run_worker(config)

    assert report.records == len(records) == n + len(garbage)
    assert report.dead_letters == {"not_json": 2, "not_object": 2, "too_large": 1, "bad_time": 1}
    dlq = consume_records(kafka_bootstrap, topics["dead_letter"], len(expected_dlq))
    assert len(dlq) == len(expected_dlq)
    for msg, (offset, key, value, reason) in zip(dlq, expected_dlq, strict=True):
        headers = dict(msg.headers() or [])
        assert headers["drift.errors.class"] == reason.encode()
        assert headers["drift.errors.topic"] == topics["events"].encode()
        assert headers["drift.errors.partition"] == b"0"
        assert headers["drift.errors.offset"] == str(offset).encode()
        assert headers["drift.errors.message"]
        assert msg.key() == key
        assert msg.value() == value
        assert msg.timestamp()[1] == timestamps[offset]
    # The valid events after the garbage went through the engine as if it had never been there.
    expected = [alert_bytes(a) for a in _replay_alerts(config, valid)]
    assert expected, "the stream should alert after the last garbage record"
    last_garbage = parse_time(orjson.loads(valid[max(garbage)])["ts"])
    assert parse_time(orjson.loads(expected[0])["data"]["observed_at"]) > last_garbage
    alerts = consume_records(kafka_bootstrap, topics["alerts"], report.alerts)
    assert [m.value() for m in alerts] == expected


def test_offsets_committed_at_end(
    kafka_bootstrap: str, topic_factory: Callable[..., str], drop_topics: list[str]
) -> None:
    """After run --until-end the group's offsets are the end offsets; a rerun consumes nothing."""
    stream = _stream(seed=3)
    events = list(stream.events(3000))
    suffix = uuid.uuid4().hex[:8]
    topics = {
        "events": topic_factory(3),
        "alerts": f"alerts-{suffix}",  # created by the worker (topics.create_missing)
        "dead_letter": f"dlq-{suffix}",
    }
    drop_topics += [topics["alerts"], topics["dead_letter"]]
    group = f"drift-{suffix}"
    config = parse_config(_config(stream, kafka_bootstrap, topics, group=group))
    produce_records(
        kafka_bootstrap,
        topics["events"],
        [(e["event_id"].encode(), orjson.dumps(e)) for e in events],
    )
    ends = _end_offsets(kafka_bootstrap, topics["events"], 3)
    assert sum(ends.values()) == len(events) and all(ends.values()), ends

    first = _run_worker(config)

    assert first.records == len(events)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    existing = admin.list_topics(timeout=DEADLINE).topics
    assert topics["alerts"] in existing and topics["dead_letter"] in existing
    reader = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    try:
        committed = reader.committed(
            [TopicPartition(topics["events"], p) for p in range(3)], timeout=DEADLINE
        )
    finally:
        reader.close()
    assert {tp.partition: tp.offset for tp in committed} == ends

    second = _run_worker(config)

    assert second.records == 0
    assert second.batches == 0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "detector.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
    )


def test_cli_run_until_end(
    kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    """`drift-detector run --until-end` exits 0 with a summary; no kafka.group.id exits 2."""
    stream = _stream(seed=5)
    events = [orjson.dumps(e) for e in stream.events(500)]
    topics = {
        "events": topic_factory(1),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    produce_records(kafka_bootstrap, topics["events"], [(None, e) for e in events])
    cfg = _config(stream, kafka_bootstrap, topics)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    del cfg["kafka"]["group.id"]
    bad = tmp_path / "no-group.yaml"
    bad.write_text(yaml.safe_dump(cfg), encoding="utf-8")

    done = _cli("run", "--config", str(good), "--until-end")

    assert done.returncode == 0, done.stderr
    summaries = [line for line in done.stderr.splitlines() if line.startswith("run summary: ")]
    assert len(summaries) == 1, done.stderr
    summary = orjson.loads(summaries[0].removeprefix("run summary: "))
    assert summary["records"] == len(events)
    assert summary["dead_letters"] == {}

    refused = _cli("run", "--config", str(bad), "--until-end")

    assert refused.returncode == 2, refused.stderr
    assert "kafka.group.id" in refused.stderr
    assert "Traceback" not in refused.stderr
