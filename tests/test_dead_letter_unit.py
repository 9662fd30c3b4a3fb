"""Dead-letter truncation arithmetic and limit lookup, without a broker.

librdkafka's own size check (``Producer.produce`` refuses a record over ``message.max.bytes``
before it talks to any broker) pins :func:`record_size` to what the producer counts; the admin
client is a stand-in that answers ``describe_configs`` like confluent-kafka does.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any, cast

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from detector.errors import KafkaBoundaryError
from detector.events import Rejection
from detector.kafka.dead_letter import (
    BROKER_DEFAULT_MAX_BYTES,
    HEADER_PREFIX,
    DeadLetter,
    dead_letter_headers,
    dead_letter_limit,
    dead_letter_record,
    record_size,
    safety_margin,
)

REJECTION = Rejection(0, "not_json", "unexpected character at position 0")
WHERE = ("events", 3, 1234)
TIMESTAMP = 1_700_000_000_000
EXTRA = ["original.size", "original.sha256", "truncated"]


def _record(key: bytes | None, value: bytes | None, limit: int) -> DeadLetter:
    return dead_letter_record(key, value, TIMESTAMP, *WHERE, REJECTION, limit)


def _header(letter: DeadLetter, name: str) -> str | bytes | None:
    return dict(letter.headers)[HEADER_PREFIX + name]


def _fits_exactly(key: bytes | None, value: bytes | None) -> int:
    """The limit that today's record of ``key`` and ``value`` fills to the byte."""
    return record_size(key, value, dead_letter_headers(*WHERE, REJECTION))


def test_record_at_the_limit_is_todays_record() -> None:
    """A record that fills the limit exactly keeps its key, value, timestamp and five headers."""
    key, value = b"user-7", b'{"amount": "x"}' * 100
    letter = _record(key, value, _fits_exactly(key, value))
    assert letter == DeadLetter(key, value, TIMESTAMP, dead_letter_headers(*WHERE, REJECTION))


def test_one_byte_over_cuts_the_value_to_fill_the_limit() -> None:
    """One byte over: the value becomes a prefix and the record fills the limit to the byte."""
    key, value = b"user-7", bytes(range(256)) * 40
    limit = _fits_exactly(key, value) - 1
    letter = _record(key, value, limit)
    assert letter.key == key
    assert letter.value is not None and value.startswith(letter.value)
    assert record_size(letter.key, letter.value, letter.headers) == limit
    assert letter.timestamp == TIMESTAMP


def test_cut_record_keeps_todays_headers_first_and_adds_three() -> None:
    """Today's headers stay, in order, followed by the original size, digest and what was cut."""
    value = b"v" * 20_000
    letter = _record(b"k", value, 5_000)
    assert letter.headers[:5] == dead_letter_headers(*WHERE, REJECTION)
    assert [name for name, _ in letter.headers[5:]] == [HEADER_PREFIX + n for n in EXTRA]
    assert _header(letter, "original.size") == b"20000"
    assert _header(letter, "original.sha256") == hashlib.sha256(value).hexdigest().encode()
    assert _header(letter, "truncated") == b"value"


def test_key_too_large_alone_is_cut_and_the_value_emptied() -> None:
    """A key larger than the room left by the headers is cut to fill it; the value is emptied."""
    key, value = b"k" * 10_000, b"v" * 100
    letter = _record(key, value, 5_000)
    assert letter.key is not None and key.startswith(letter.key)
    assert letter.value == b""
    assert _header(letter, "truncated") == b"key,value"
    assert _header(letter, "original.size") == b"100"
    assert record_size(letter.key, letter.value, letter.headers) == 5_000


def test_tombstone_stays_absent() -> None:
    """An absent value stays absent, whole or with its too-large key cut."""
    assert _record(b"k", None, 5_000).value is None
    letter = _record(b"k" * 10_000, None, 5_000)
    assert letter.value is None
    assert _header(letter, "truncated") == b"key"
    assert _header(letter, "original.size") == b"0"
    assert record_size(letter.key, letter.value, letter.headers) == 5_000


def test_headers_too_large_for_the_limit_raise() -> None:
    """A limit the headers alone exceed is refused rather than answered with a record too large."""
    with pytest.raises(KafkaBoundaryError, match="headers alone"):
        _record(None, b"v" * 1_000, 200)


@pytest.mark.parametrize("header_bytes", [0, 63, 64, 8191, 8192])
def test_record_size_is_what_librdkafka_counts(header_bytes: int) -> None:
    """librdkafka takes a record of ``message.max.bytes - 36`` by record_size, not one more."""
    max_bytes = 20_000
    headers = [*dead_letter_headers(*WHERE, REJECTION), ("x", b"h" * header_bytes)]
    room = max_bytes - 36 - record_size(b"key", None, headers)
    producer = Producer({"message.max.bytes": max_bytes, "log_level": 4})  # no broker needed
    try:
        producer.produce("t", key=b"key", value=b"v" * room, headers=headers)
        with pytest.raises(KafkaException) as refused:
            producer.produce("t", key=b"key", value=b"v" * (room + 1), headers=headers)
        assert refused.value.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE
    finally:
        producer.purge()
        producer.flush(0)


class _Admin:
    """Answers describe_configs with a value or a KafkaError per resource type (1 broker, id 1)."""

    def __init__(self, topic: str | int, broker: str | int) -> None:
        self.answers = {"TOPIC": topic, "BROKER": broker}
        self.asked: list[tuple[str, str]] = []

    def describe_configs(self, resources: list[Any], request_timeout: float) -> dict[Any, Any]:
        futures = {}
        for resource in resources:
            self.asked.append((resource.restype.name, resource.name))
            answer, future = self.answers[resource.restype.name], Future[Any]()
            if isinstance(answer, int):
                future.set_exception(KafkaException(KafkaError(answer)))
            else:
                entry = SimpleNamespace(value=answer)
                future.set_result({"max.message.bytes": entry, "message.max.bytes": entry})
            futures[resource] = future
        return futures

    def list_topics(self, timeout: float) -> Any:
        return SimpleNamespace(brokers={1: None})


def _limit(admin: _Admin, producer_max_bytes: int) -> int:
    return dead_letter_limit(cast(Any, admin), "dlq", producer_max_bytes)


def test_limit_is_the_smaller_maximum_less_the_margin() -> None:
    """The topic's max.message.bytes or the producer's message.max.bytes, whichever is smaller."""
    admin = _Admin(topic="50000", broker="2000000")
    assert _limit(admin, 1_000_000) == 50_000 - safety_margin(50_000)
    assert _limit(admin, 20_000) == 20_000 - safety_margin(20_000)
    assert admin.asked == [("TOPIC", "dlq"), ("TOPIC", "dlq")]


def test_limit_falls_back_to_broker_then_kafka_default(caplog: pytest.LogCaptureFixture) -> None:
    """A topic the cluster will not describe takes the broker's limit, else Kafka's default."""
    caplog.set_level(logging.WARNING, "detector.worker")
    denied = KafkaError.TOPIC_AUTHORIZATION_FAILED
    admin = _Admin(topic=denied, broker="300000")
    assert _limit(admin, 16 << 20) == 300_000 - safety_margin(300_000)
    assert admin.asked == [("TOPIC", "dlq"), ("BROKER", "1")]
    admin = _Admin(topic=denied, broker=KafkaError.CLUSTER_AUTHORIZATION_FAILED)
    largest = BROKER_DEFAULT_MAX_BYTES
    assert _limit(admin, 16 << 20) == largest - safety_margin(largest)
    assert "TOPIC_AUTHORIZATION_FAILED" in caplog.text
    assert "CLUSTER_AUTHORIZATION_FAILED" in caplog.text


def test_limit_without_an_answer_is_a_boundary_error() -> None:
    """A local librdkafka error (timeout, transport) is a KafkaBoundaryError, not a guess."""
    admin = _Admin(topic=KafkaError._TIMED_OUT, broker="300000")
    with pytest.raises(KafkaBoundaryError, match="_TIMED_OUT"):
        _limit(admin, 1_000_000)


def test_limit_too_small_for_dead_letters_is_a_boundary_error() -> None:
    """A topic whose records cannot even hold the headers stops the worker at start-up."""
    with pytest.raises(KafkaBoundaryError, match="too small"):
        _limit(_Admin(topic="2000", broker="300000"), 1_000_000)
