"""The worker's one-pass sort of a consumed batch, on real messages from a real broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer

from detector._native import sort_records

pytestmark = pytest.mark.kafka


def _consume_all(
    bootstrap: str, topics: list[str], expected: int, partitions: int
) -> list[Message]:
    """Until ``expected`` records and an end-of-partition event for each of ``partitions``
    (librdkafka may deliver the last record and its partition's end in separate calls)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"sort-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe(topics)
    messages: list[Message] = []
    deadline = time.monotonic() + 60
    try:
        while (
            sum(m.error() is None for m in messages) < expected
            or len({(m.topic(), m.partition()) for m in messages if m.error() is not None})
            < partitions
        ):
            assert time.monotonic() < deadline, "timed out consuming the test records"
            messages += consumer.consume(500, timeout=0.5)
    finally:
        consumer.close()
    return messages


def test_sorts_inputs_internal_records_and_errors(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """Inputs keep their order, values and timestamps (seconds); internal records and errors
    (end-of-partition events) are set apart; next offsets are one past each partition's last."""
    events, internal = topic_factory(2), topic_factory(1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(10):
        value = None if i == 3 else f"event-{i}".encode()  # a record without a value
        producer.produce(events, value=value, partition=i % 2, timestamp=1_000_000 + i)
    producer.produce(internal, value=b"slice", partition=0)
    producer.flush(30)
    messages = _consume_all(kafka_bootstrap, [events, internal], 11, partitions=3)

    batch = sort_records(messages, internal)

    assert [m.value() for m in batch.internal] == [b"slice"]
    assert all(m.error().code() == KafkaError._PARTITION_EOF for m in batch.errors)
    assert len(batch.errors) == sum(m.error() is not None for m in messages) > 0
    inputs = [m for m in messages if m.error() is None and m.topic() == events]
    assert batch.inputs == inputs
    assert batch.values == [m.value() for m in inputs] and None in batch.values
    assert batch.times.tolist() == [m.timestamp()[1] / 1000.0 for m in inputs]
    assert sorted(batch.next_offsets) == [(events, 0, 5), (events, 1, 5)]
