"""Event-to-alert latency at a paced load: many injected drifts, wall-clock event times.

The detector (``drift-detector run``, no ``--until-end``) consumes a fresh topic while this
process produces at a fixed rate, stamping each event's ``ts`` with the wall clock at produce.
An alert's ``observed_at`` is the ``ts`` of the event that triggered it, so latency is the alert
record's Kafka timestamp (set when the detector produced it) minus ``observed_at``.
"""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from detector.alerts import rfc3339
from detector.testing.synthetic import Drift

from .measure import CLI, log_lines, write_config
from .workload import (
    COUNTRIES,
    NUMERIC,
    DeliveryCheck,
    create_topics,
    detector_config,
    latency_events,
)

WARM = 12_000  # every country series (~1/10 of traffic) completes its 1,000-value reference
TAIL = 3_000  # events after the last drift start, so it can be detected
_TIMESTAMP_TYPES = {1: "CreateTime", 2: "LogAppendTime"}


@dataclass
class Latency:
    target_rate: float
    achieved_rate: float
    events: int
    drifts: int
    samples: list[float] = field(default_factory=list)  # seconds
    firing: list[float] = field(default_factory=list)  # the samples of firing alerts (pages)
    statuses: dict[str, int] = field(default_factory=dict)
    timestamp_type: str = "?"
    topics: list[str] = field(default_factory=list)

    def percentile(self, q: float, status: str = "any") -> float | None:
        samples = self.firing if status == "firing" else self.samples
        return float(np.percentile(samples, q)) if samples else None


def plan(rate: float, drifts: int, max_seconds: float) -> tuple[int, int]:
    """(events, spacing between drift starts) so that producing takes at most ``max_seconds``."""
    budget = int(rate * max_seconds)
    spacing = min(1_000, max(200, (budget - WARM - TAIL) // max(drifts, 1)))
    return WARM + drifts * spacing + TAIL, spacing


def drifts_at(count: int, spacing: int) -> list[Drift]:
    """``count`` 2-sd mean shifts, each on its own (feature, country) pair, staggered starts."""
    return [
        Drift(
            feature=NUMERIC[j % len(NUMERIC)],
            start=WARM + j * spacing,
            shift=2.0,
            segment=("country", COUNTRIES[(j + j // len(NUMERIC)) % len(COUNTRIES)]),
        )
        for j in range(count)
    ]


def _wait_for_log(path: Path, message: str, proc: subprocess.Popen[bytes], deadline: float) -> None:
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise RuntimeError(f"detector exited {proc.returncode} early, log: {path}")
        if any(line["message"].startswith(message) for line in log_lines(path)):
            return
        time.sleep(0.1)
    raise TimeoutError(f"detector did not log {message!r} within {deadline:g}s, log: {path}")


def _paced_produce(bootstrap: str, topic: str, events: list[dict[str, Any]], rate: float) -> float:
    """Produce at ``rate`` events/s with ``ts`` = wall clock at produce; return achieved rate."""
    producer, check = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5}), DeliveryCheck()
    dumps, now = orjson.dumps, time.time
    started, sent = time.perf_counter(), 0
    while sent < len(events):
        due = min(len(events), int((time.perf_counter() - started) * rate) + 1)
        while sent < due:
            event = events[sent]
            event["ts"] = rfc3339(now())
            producer.produce(topic, dumps(event), on_delivery=check)
            sent += 1
        producer.poll(0)
        time.sleep(0.002)  # bursts of ~rate/500 events keep the pace smooth
    elapsed = time.perf_counter() - started
    if producer.flush(30) or check.failures:
        raise RuntimeError(f"latency events not acknowledged: {check.failures}")
    return sent / elapsed


def _wait_committed(bootstrap: str, group: str, topic: str, end: int, deadline: float) -> bool:
    """True once the detector's group committed ``end`` (so every alert was acknowledged)."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    until = time.monotonic() + deadline
    try:
        while time.monotonic() < until:
            committed = reader.committed([TopicPartition(topic, 0)], timeout=10)
            if committed[0].offset >= end:
                return True
            time.sleep(0.5)
    finally:
        reader.close()
    return False


def _read_all(bootstrap: str, topic: str, deadline: float) -> list[Any]:
    """Every record of a 1-partition topic, read to its end (EOF), bounded."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-alerts-{uuid.uuid4().hex[:8]}",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    reader.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    records: list[Any] = []
    until = time.monotonic() + deadline
    try:
        while time.monotonic() < until:
            message = reader.poll(0.5)
            if message is None:
                continue
            err = message.error()
            if err is not None and err.code() == KafkaError._PARTITION_EOF:
                return records
            if err is None:
                records.append(message)
    finally:
        reader.close()
    raise TimeoutError(f"read {len(records)} alerts but not the end of {topic} in {deadline:g}s")


def measure_latency(
    bootstrap: str, workdir: Path, rate: float, drifts: int, max_seconds: float, seed: int
) -> Latency:
    suffix = uuid.uuid4().hex[:8]
    topics = {k: f"bench.latency.{k}.{suffix}" for k in ("events", "alerts", "dead_letter")}
    create_topics(bootstrap, list(topics.values()), 1)
    group = f"bench-latency-{suffix}"
    config_path = write_config(detector_config(bootstrap, group, topics), workdir)
    n, spacing = plan(rate, drifts, max_seconds)
    events = latency_events(n, seed, drifts_at(drifts, spacing))
    log_path = workdir / f"latency-detector-{suffix}.log"
    result = Latency(rate, 0.0, n, drifts, topics=list(topics.values()))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*CLI, "run", "--config", str(config_path)], stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        _wait_for_log(log_path, "assigned partitions", proc, deadline=60)
        result.achieved_rate = _paced_produce(bootstrap, topics["events"], events, rate)
        if not _wait_committed(bootstrap, group, topics["events"], n, deadline=30):
            print("  warning: the detector did not catch up within 30 s; late alerts are missed")
    finally:
        proc.send_signal(signal.SIGTERM)  # the worker finishes its batch, flushes and commits
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for message in _read_all(bootstrap, topics["alerts"], deadline=30):
        data = orjson.loads(message.value())["data"]
        kind, millis = message.timestamp()
        result.timestamp_type = _TIMESTAMP_TYPES.get(kind, str(kind))
        observed = datetime.fromisoformat(data["observed_at"]).timestamp()
        result.samples.append(millis / 1000.0 - observed)
        if data["status"] == "firing":
            result.firing.append(result.samples[-1])
        result.statuses[data["status"]] = result.statuses.get(data["status"], 0) + 1
    return result
