"""Fault scenarios (``tests/faults``): a drift stream, what ``replay`` makes of it, and ways to
read what a worker produced under faults and compare it with that.

Every comparison is on alert sets, ids and series event counts, never on wall-clock time. An
alert's id hashes its dedup key, status and series event count, so equal ids mean the same
alert fired at the same event of its series.

>>> events = drift_events(2000)
>>> len(events), sorted(events[0]["segment"])
(2000, ['channel', 'country'])
>>> unique([{"source": "s", "id": "a"}, {"source": "s", "id": "a"}, {"source": "s", "id": "b"}])
[{'source': 's', 'id': 'a'}, {'source': 's', 'id': 'b'}]
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from detector.alerts import alert_bytes
from detector.config import parse_config
from detector.replay import replay
from detector.testing.kafka_io import produce_records
from detector.testing.synthetic import Drift, SyntheticStream, config_dict
from detector.testing.workers import WorkerProcess

WINDOW = 500  # detection.window of the scenarios: "within one window" of series events

STREAM = SyntheticStream(
    numeric=["amount", "latency"],
    categorical={"mcc": {"5411": 0.2, "5812": 0.4, "5999": 0.4}},
    segments={"country": ["DE", "FR", "US", "GB"], "channel": ["web", "app"]},
    seed=11,
)


def drift_events(n: int) -> list[dict[str, Any]]:
    """``n`` events; from the middle on, ``amount`` shifts 2 sd in country=DE, ``latency``
    1.5 sd everywhere, and ``amount`` follows ``latency`` (correlation 0.8, marginals
    unchanged: the joint units fire), so a handful of series fire, each once."""
    half = n // 2
    drifts = [
        Drift("amount", half, 2.0, ("country", "DE")),
        Drift("latency", half, 1.5),
        Drift("amount", half, 0.8, kind="couple", partner="latency"),
    ]
    return list(STREAM.events(n, drifts))


def scenario_config(bootstrap: str, topics: dict[str, str], **processing: Any) -> dict[str, Any]:
    """A worker config (as parsed YAML) for the drift events, with a fresh group."""
    cfg = config_dict(STREAM, "fraud", topics)
    cfg["kafka"] = {"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}"}
    cfg["metrics"] = {"enabled": False}
    cfg["detection"] = {"joint": {"enabled": True}}
    cfg["run"] = {"batch_size": 2000, "batch_timeout": 0.1}
    cfg["processing"] = {"commit_interval": 0.5, **processing}
    return cfg


def create_topics(bootstrap: str, partitions: dict[str, int]) -> dict[str, str]:
    """Fresh topics named after their role (``events``, ``alerts``...), with partition counts."""
    names = {role: f"{role}-{uuid.uuid4().hex[:8]}" for role in partitions}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(names[r], n, 1) for r, n in partitions.items()]
    for future in admin.create_topics(new, operation_timeout=30).values():
        future.result(30)
    return names


def produce_spread(
    bootstrap: str, topic: str, records: Sequence[bytes | None], partitions: int
) -> None:
    """Record ``i`` to partition ``i % partitions``, in order: a backlog over all of them."""
    for p in range(partitions):
        keyed = [(f"k-{i}".encode(), records[i]) for i in range(p, len(records), partitions)]
        produce_records(bootstrap, topic, keyed, partition=p, deadline=60.0)


def replay_alerts(
    cfg: dict[str, Any], events: Sequence[bytes], labels: Sequence[bytes] | None = None
) -> list[dict[str, Any]]:
    """The alerts of ``replay`` on the same events (the uninterrupted run), as JSON objects."""
    alerts: list[dict[str, Any]] = []
    replay(
        parse_config(cfg),
        events,
        lambda alert: alerts.append(orjson.loads(alert_bytes(alert))),
        labels=labels,
    )
    return alerts


def unique(alerts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts a reader that drops duplicates on (``source``, ``id``) keeps, in order."""
    seen: set[tuple[str, str]] = set()
    out = []
    for alert in alerts:
        key = (alert["source"], alert["id"])
        if key not in seen:
            seen.add(key)
            out.append(alert)
    return out


def moments(alerts: Sequence[dict[str, Any]]) -> Counter[tuple[str, str, int]]:
    """(dedup key, status, series event count) of each alert, counted."""
    return Counter(
        (a["data"]["dedup_key"], a["data"]["status"], a["data"]["series_events"]) for a in alerts
    )


def firings(alerts: Sequence[dict[str, Any]]) -> Counter[str]:
    """How many times each dedup key fired."""
    return Counter(a["data"]["dedup_key"] for a in alerts if a["data"]["status"] == "firing")


def far_from(
    got: Sequence[dict[str, Any]], reference: Sequence[dict[str, Any]], tolerance: int
) -> list[str]:
    """What differs beyond ``tolerance`` series events: each reference alert needs one of the
    same dedup key and status within it, and each alert got needs one in the reference."""

    def unmatched(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> list[str]:
        out = []
        for alert in a:
            data = alert["data"]
            near = [
                x
                for x in b
                if x["data"]["dedup_key"] == data["dedup_key"]
                and x["data"]["status"] == data["status"]
                and abs(x["data"]["series_events"] - data["series_events"]) <= tolerance
            ]
            if not near:
                out.append(f"{data['dedup_key']} {data['status']} at {data['series_events']}")
        return out

    missing = [f"missing: {m}" for m in unmatched(reference, got)]
    extra = [f"extra: {m}" for m in unmatched(got, reference)]
    return missing + extra


def committed_progress(bootstrap: str, group: str, topic: str) -> float:
    """The share of ``topic``'s records below the group's committed offsets (0 to 1)."""
    # read_uncommitted: a killed exactly-once worker's open transaction would make the offset
    # fetch wait until the transaction times out.
    props = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "isolation.level": "read_uncommitted",
    }
    consumer = Consumer(props)
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        done = total = 0
        for tp in consumer.committed(parts, timeout=30):
            _, high = consumer.get_watermark_offsets(tp, timeout=30)
            total += high
            done += min(max(tp.offset, 0), high)
        return done / total if total else 1.0
    finally:
        consumer.close()


def wait_progress(
    bootstrap: str,
    group: str,
    topic: str,
    share: float,
    deadline: float,
    workers: Sequence[WorkerProcess] = (),
) -> float:
    """Wait until the group has committed ``share`` of ``topic``; the share reached."""
    until = time.monotonic() + deadline
    while True:
        reached = committed_progress(bootstrap, group, topic)
        if reached >= share:
            return reached
        if time.monotonic() > until:
            tails = "\n---\n".join(w.output() for w in workers)
            raise TimeoutError(
                f"{group} committed {reached:.0%} of {topic}, not {share:.0%}\n{tails}"
            )
        time.sleep(0.2)
