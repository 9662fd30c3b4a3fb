"""Dead-letter records: the original key, value and timestamp, with the reason in headers.

Header names follow Kafka Connect's dead-letter convention, under our own prefix:
``drift.errors.topic``, ``.partition``, ``.offset`` (where the record came from),
``drift.errors.class`` (a reason code from :mod:`detector.events`) and ``drift.errors.message``.

A dead letter must fit its topic, or its delivery fails on every restart. A record too large
for :func:`dead_letter_limit` keeps all its headers but loses the end of its value (and of its
key, when the key alone is too large), and says so in three more headers:
``drift.errors.original.size`` and ``drift.errors.original.sha256`` (of the original value, an
absent one counting as empty) and ``drift.errors.truncated`` (``value``, ``key,value``, or ``key``
when the value was empty or absent: a tombstone stays one).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public, not re-exported
    AdminClient,
    ConfigResource,
    ResourceType,
)

from detector.errors import KafkaBoundaryError
from detector.events import Rejection
from detector.kafka.clients import describe_error

HEADER_PREFIX = "drift.errors."
Headers = list[tuple[str, str | bytes | None]]

log = logging.getLogger("detector.worker")
BROKER_DEFAULT_MAX_BYTES = 1_048_588  # Kafka's message.max.bytes default: 1 MiB + 12 (log overhead)
PRODUCER_DEFAULT_MAX_BYTES = 1_000_000  # librdkafka's message.max.bytes default
MIN_LIMIT = 4096  # room for the largest headers (message <= 1000 bytes, topic <= 249) and a bit
# What a record needs beyond record_size(), measured with librdkafka 2.16 and Kafka 4.1 on topics of
# 50 kB, 1 MiB and 8 MiB (the largest random value accepted with 5 headers, found by bisection):
# - librdkafka refuses a record over message.max.bytes - 36 (RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD,
#   worst-case varints), measured 36; the broker counts the 61-byte v2 batch header (12 of log
#   overhead included) and the record's own framing: measured 72 for one record, uncompressed.
# - The producer's lz4 never adds: librdkafka sends a batch uncompressed when compression would
#   grow it (rdkafka_msgset_writer.c); measured 31 (only the headers compressed).
# - A topic whose compression.type differs from the producer's makes the broker recompress and
#   re-check the size: gzip, snappy, lz4 and zstd framing of incompressible data took at most
#   108 bytes at 50 kB, 408 at 1 MiB and 2556 at 8 MiB (0.03 %).
# So 61 + 36 + 160 bytes and 1/1024 of the size: 2.5 to 3 times what we measured.
_FRAMING = 61 + 36
_RECOMPRESSION = 160


@dataclass(frozen=True)
class DeadLetter:
    """One record for the dead-letter topic, ready for ``Producer.produce``."""

    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: Headers


def dead_letter_headers(topic: str, partition: int, offset: int, rejection: Rejection) -> Headers:
    """Headers that tell an operator where a rejected record came from and why."""
    return [
        (HEADER_PREFIX + "topic", topic.encode()),
        (HEADER_PREFIX + "partition", str(partition).encode()),
        (HEADER_PREFIX + "offset", str(offset).encode()),
        (HEADER_PREFIX + "class", rejection.reason.encode()),
        (HEADER_PREFIX + "message", rejection.message.encode("utf-8", errors="replace")[:1000]),
    ]


def safety_margin(max_bytes: int) -> int:
    """Bytes a record of at most ``max_bytes`` keeps free for framing (see the comment above)."""
    return _FRAMING + _RECOMPRESSION + max_bytes // 1024


def dead_letter_limit(
    admin: AdminClient, topic: str, producer_max_bytes: int, timeout: float = 30.0
) -> int:
    """The largest :func:`record_size` the dead-letter ``topic`` accepts from a producer with
    ``message.max.bytes=producer_max_bytes``. The topic's ``max.message.bytes`` comes from the
    cluster; if the cluster refuses to tell (unknown topic, no authorization), the broker's
    ``message.max.bytes``, else Kafka's default. An unreachable cluster is a KafkaBoundaryError,
    so is a limit too small for the headers."""
    topic_max = _read_int(admin, ResourceType.TOPIC, topic, "max.message.bytes", timeout)
    if topic_max is None:
        try:
            brokers = admin.list_topics(timeout=timeout).brokers
        except KafkaException as exc:
            raise _boundary("read the cluster's metadata", exc) from exc
        if brokers:
            broker = str(min(brokers))
            topic_max = _read_int(admin, ResourceType.BROKER, broker, "message.max.bytes", timeout)
    if topic_max is None:
        log.warning("dead-letter topic %r: assuming Kafka's default max.message.bytes", topic)
        topic_max = BROKER_DEFAULT_MAX_BYTES
    largest = min(topic_max, producer_max_bytes)
    limit = largest - safety_margin(largest)
    if limit < MIN_LIMIT:
        raise KafkaBoundaryError(
            f"topics.dead_letter: topic {topic!r} takes records of {topic_max} bytes and the "
            f"producer of {producer_max_bytes}, too small for dead letters (at least "
            f"{MIN_LIMIT + safety_margin(MIN_LIMIT)})"
        )
    return limit


def dead_letter_record(
    key: bytes | None,
    value: bytes | None,
    timestamp: int,
    topic: str,
    partition: int,
    offset: int,
    rejection: Rejection,
    limit: int,
) -> DeadLetter:
    """The dead letter of a record read at ``topic``/``partition``/``offset``: the record as it
    was if it fits ``limit`` (from :func:`dead_letter_limit`), else cut to fit (module doc)."""
    headers = dead_letter_headers(topic, partition, offset, rejection)
    if record_size(key, value, headers) <= limit:
        return DeadLetter(key, value, timestamp, headers)
    original = value or b""
    about = [
        *headers,
        (HEADER_PREFIX + "original.size", str(len(original)).encode()),
        (HEADER_PREFIX + "original.sha256", hashlib.sha256(original).hexdigest().encode()),
    ]
    # With an empty or absent value we only got here because key and headers exceed the limit,
    # so if the key fits below, there is a value to cut.
    room = limit - record_size(None, None, [*about, _truncated("value")])
    if len(key or b"") <= room:
        cut = original[: room - len(key or b"")]
        return DeadLetter(key, cut, timestamp, [*about, _truncated("value")])
    what = "key,value" if original else "key"
    room = limit - record_size(None, None, [*about, _truncated(what)])
    if not key or room < 0:
        raise KafkaBoundaryError(f"a dead letter's headers alone exceed the limit, {limit} bytes")
    empty = None if value is None else b""
    return DeadLetter(key[:room], empty, timestamp, [*about, _truncated(what)])


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """The bytes of a record that librdkafka adds to its fixed 36 bytes of framing when it checks
    ``message.max.bytes``: key, value, and each header with the varints of its lengths."""
    size = len(key or b"") + len(value or b"")
    for name, data in headers:
        raw = data.encode() if isinstance(data, str) else data or b""
        size += _varint_size(len(name.encode())) + len(name.encode())
        size += _varint_size(len(raw)) + len(raw)
    return size


def _varint_size(n: int) -> int:
    """Bytes of a length ``n >= 0`` as a zigzag varint (record format v2)."""
    return max(1, ((n << 1).bit_length() + 6) // 7)


def _truncated(what: str) -> tuple[str, bytes]:
    return (HEADER_PREFIX + "truncated", what.encode())


def _read_int(
    admin: AdminClient, kind: ResourceType, name: str, key: str, timeout: float
) -> int | None:
    """A config value of a topic or broker; None, logged, when the cluster refuses to say."""
    resource = ConfigResource(kind, name)
    what = f"describe {kind.name.lower()} {name!r}"
    try:
        entries = admin.describe_configs([resource], request_timeout=timeout)[resource].result()
    except KafkaException as exc:
        if exc.args[0].code() < 0:  # librdkafka's own errors (timeout, transport): no answer
            raise _boundary(what, exc) from exc
        log.warning("cannot %s for %s: %s", what, key, describe_error(exc.args[0]))
        return None
    entry = entries.get(key)
    value = entry.value if entry is not None else None
    if value is None or not value.isdigit():
        log.warning("cannot %s: %s is %r", what, key, value)
        return None
    return int(value)


def _boundary(what: str, exc: KafkaException) -> KafkaBoundaryError:
    return KafkaBoundaryError(f"cannot {what}: {describe_error(exc.args[0])}")
