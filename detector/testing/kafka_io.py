"""Produce and consume whole record sets with bounded waits: for tests, the demo and benchmarks.

>>> callable(produce_records) and callable(consume_records)
True
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaError, Message, Producer

if TYPE_CHECKING:
    from detector.config import Config
    from detector.kafka.report import WorkerReport


def produce_records(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes | None]],
    partition: int | None = None,
    timestamps: Sequence[int] | None = None,
    deadline: float = 30.0,
) -> None:
    """Produce (key, value) records in order; raise unless every one is acknowledged."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20}
    )
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failures.append(str(err))

    for i, (key, value) in enumerate(records):
        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        if timestamps is not None:
            kwargs["timestamp"] = timestamps[i]
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(deadline)
    if remaining or failures:
        raise RuntimeError(f"{remaining} record(s) unacknowledged, failures: {failures[:5]}")


def consume_records(
    bootstrap: str,
    topic: str,
    count: int,
    isolation: str = "read_uncommitted",
    deadline: float = 30.0,
) -> list[Message]:
    """Read ``topic`` from the start (fresh group) until ``count`` records or the deadline."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    records: list[Message] = []
    try:
        consumer.subscribe([topic])
        until = time.monotonic() + deadline
        while len(records) < count and time.monotonic() < until:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                raise RuntimeError(f"consumer error on {topic}: {msg.error()}")
            records.append(msg)
    finally:
        consumer.close()
    return records


def run_until_end(config: Config, deadline: float = 120.0) -> WorkerReport:
    """``Worker(config, until_end=True).run()`` in a thread, stopped and failed past a deadline.

    Raises the worker's own exception if it failed, ``TimeoutError`` if it did not reach the end
    offsets in time (after asking it to stop).
    """
    from detector.kafka.worker import Worker

    worker = Worker(config, until_end=True)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["report"] = worker.run()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(deadline)
    if thread.is_alive():
        worker.stop()
        thread.join(30.0)
        raise TimeoutError(f"worker did not reach the end offsets within {deadline:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    report: WorkerReport = outcome["report"]
    return report


def run_with_a_restart(
    bootstrap: str, config: Config, lines: Sequence[bytes], at: int, deadline: float = 240.0
) -> list[bytes]:
    """Produce ``lines[:at]`` to the events topic, run a worker to the end, produce the rest,
    run a new worker (same group: it restores from the changelog) to the end; the values of
    every alert record both produced, in order."""
    topics = config.kafka_topics
    produce_records(bootstrap, topics.events, [(None, line) for line in lines[:at]])
    first = run_until_end(config, deadline)
    produce_records(bootstrap, topics.events, [(None, line) for line in lines[at:]])
    second = run_until_end(config, deadline)
    if first.records + second.records != len(lines):
        raise AssertionError(f"read {first.records} + {second.records} of {len(lines)} records")
    records = consume_records(bootstrap, topics.alerts, first.alerts + second.alerts)
    return [r.value() or b"" for r in records]
