"""Dead letters against a real broker: the limit is read from the dead-letter topic, and a record
that topic refuses is acknowledged once cut by :func:`dead_letter_record`.

The producer is configured like the worker's (lz4, idempotent, ``message.max.bytes`` of 16 MiB
for repartition records), so only the topic's ``max.message.bytes`` stands between a dead letter
and MSG_SIZE_TOO_LARGE. Values are random bytes: lz4 cannot shrink them.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from detector.config import parse_config
from detector.events import Rejection
from detector.kafka.clients import producer_config
from detector.kafka.dead_letter import (
    BROKER_DEFAULT_MAX_BYTES,
    HEADER_PREFIX,
    DeadLetter,
    dead_letter_headers,
    dead_letter_limit,
    dead_letter_record,
    safety_margin,
)
from detector.kafka.internal import MAX_RECORD
from detector.testing.kafka_io import consume_records
from detector.testing.synthetic import SyntheticStream, config_dict

pytestmark = pytest.mark.kafka

DEADLINE = 30.0  # seconds for any single wait on the broker
TOPIC_MAX_BYTES = 50_000
REJECTION = Rejection(0, "too_large", "1048000 bytes > 1000000")
WHERE = ("events", 2, 4711)
TIMESTAMP = 1_700_000_000_000


@pytest.fixture
def admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def small_topic(admin: AdminClient) -> Iterator[str]:
    """A dead-letter topic whose records may not exceed 50,000 bytes."""
    name = f"test-dlq-{uuid.uuid4().hex[:12]}"
    new = NewTopic(name, 1, 1, config={"max.message.bytes": str(TOPIC_MAX_BYTES)})
    admin.create_topics([new], operation_timeout=DEADLINE)[name].result(timeout=DEADLINE)
    yield name
    admin.delete_topics([name], operation_timeout=DEADLINE)[name].result(timeout=DEADLINE)


def _worker_producer(bootstrap: str) -> Producer:
    """A producer with the worker's properties (see detector.kafka.worker.Worker.run)."""
    raw = config_dict(SyntheticStream())
    raw["kafka"] = {"bootstrap.servers": bootstrap, "group.id": "dead-letter-test"}
    return Producer({**producer_config(parse_config(raw)), "message.max.bytes": MAX_RECORD})


def _produce(producer: Producer, topic: str, letter: DeadLetter) -> KafkaError | None:
    """Produce one dead letter, wait for the broker's answer and return its error, if any."""
    answers: list[KafkaError | None] = []
    producer.produce(
        topic,
        key=letter.key,
        value=letter.value,
        timestamp=letter.timestamp,
        headers=letter.headers,
        on_delivery=lambda err, _msg: answers.append(err),
    )
    assert producer.flush(DEADLINE) == 0
    return answers[0]


def _consume_one(bootstrap: str, topic: str) -> Message:
    [record] = consume_records(bootstrap, topic, 1, deadline=DEADLINE)
    return record


def test_limit_reads_the_dead_letter_topics_max_message_bytes(
    admin: AdminClient, small_topic: str
) -> None:
    """The limit comes from the topic's own max.message.bytes, not the producer's 16 MiB."""
    limit = dead_letter_limit(admin, small_topic, MAX_RECORD)
    assert limit == TOPIC_MAX_BYTES - safety_margin(TOPIC_MAX_BYTES)


def test_limit_of_a_topic_without_override_is_the_broker_default(
    admin: AdminClient, topic_factory: Callable[..., str]
) -> None:
    """A topic created without max.message.bytes takes the broker's (Kafka's default here)."""
    limit = dead_letter_limit(admin, topic_factory(), MAX_RECORD)
    assert limit == BROKER_DEFAULT_MAX_BYTES - safety_margin(BROKER_DEFAULT_MAX_BYTES)


def test_limit_of_a_missing_topic_asks_the_broker(admin: AdminClient) -> None:
    """An unknown topic (auto-created on first produce) falls back to the broker's limit."""
    limit = dead_letter_limit(admin, f"test-missing-{uuid.uuid4().hex[:12]}", 200_000)
    assert limit == 200_000 - safety_margin(200_000)


@pytest.mark.parametrize("size", [900_000, 49_990])
def test_cut_dead_letter_is_acknowledged(
    kafka_bootstrap: str, admin: AdminClient, small_topic: str, size: int
) -> None:
    """A value the topic refuses as it is arrives cut, with its original size and sha256."""
    value = random.Random(size).randbytes(size)
    producer = _worker_producer(kafka_bootstrap)
    today = DeadLetter(b"key-1", value, TIMESTAMP, dead_letter_headers(*WHERE, REJECTION))
    refused = _produce(producer, small_topic, today)
    assert refused is not None and refused.code() == KafkaError.MSG_SIZE_TOO_LARGE

    limit = dead_letter_limit(admin, small_topic, MAX_RECORD)
    letter = dead_letter_record(b"key-1", value, TIMESTAMP, *WHERE, REJECTION, limit)
    assert _produce(producer, small_topic, letter) is None

    record = _consume_one(kafka_bootstrap, small_topic)
    got = record.value()
    assert got is not None and 0 < len(got) < size and value.startswith(got)
    assert record.key() == b"key-1"
    assert record.timestamp()[1] == TIMESTAMP
    headers = dict(record.headers() or [])
    assert headers[HEADER_PREFIX + "original.size"] == str(size).encode()
    assert headers[HEADER_PREFIX + "original.sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert headers[HEADER_PREFIX + "truncated"] == b"value"
    assert headers[HEADER_PREFIX + "class"] == b"too_large"


def test_small_dead_letter_is_byte_identical_to_todays(
    kafka_bootstrap: str, admin: AdminClient, small_topic: str
) -> None:
    """A record that fits arrives with today's key, value and five headers, nothing added."""
    value = b'{"event_id": "e-1", "ts": "yesterday"}'
    limit = dead_letter_limit(admin, small_topic, MAX_RECORD)
    letter = dead_letter_record(b"key-2", value, TIMESTAMP, *WHERE, REJECTION, limit)
    assert _produce(_worker_producer(kafka_bootstrap), small_topic, letter) is None

    record = _consume_one(kafka_bootstrap, small_topic)
    assert record.key() == b"key-2"
    assert record.value() == value
    assert record.headers() == dead_letter_headers(*WHERE, REJECTION)
