"""The worker's internal topics: the repartition topic and the state changelog.

Kafka Streams' design: an input topic's records are spread over partitions by keys we do not
control, so the first stage sends each state unit's share of a batch (:mod:`detector.chunks`)
to the repartition partition that owns the unit; the consumer group spreads those partitions
over the workers like any other. Each repartition partition ``p`` has its units' snapshots in
changelog partition ``p`` (compacted, keyed by unit), which a worker reads back when ``p`` is
assigned to it.

Both topics hold our own serialization (:mod:`detector.state.slice_format` for slices,
:mod:`detector.state.codec` for snapshots): versioned, and it cannot execute code when read.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from detector.chunks import UnitKey
from detector.config import Config
from detector.errors import KafkaBoundaryError, StateError
from detector.kafka.clients import list_topics
from detector.slices import Slice
from detector.split import partition_slices
from detector.state.slice_format import decode_slice, encode_slice

log = logging.getLogger("detector.worker")
_METADATA_TIMEOUT = 30.0
MAX_RECORD = 16 * 1024 * 1024  # a repartition record's limit (producer and topic)
SPLIT_ROWS = 20_000  # events per slice: a record of 30 float columns stays near 5 MB


def check_topics(admin: AdminClient, config: Config) -> dict[str, Any]:
    """The cluster's topics, after checking the input and creating missing output topics."""
    topics = config.kafka_topics
    existing = list_topics(admin, config.kafka, _METADATA_TIMEOUT)
    if topics.events not in existing:
        raise KafkaBoundaryError(f"topics.events: topic {topics.events!r} does not exist")
    if topics.labels is not None and topics.labels not in existing:
        raise KafkaBoundaryError(f"topics.labels: topic {topics.labels!r} does not exist")
    missing = [t for t in (topics.alerts, topics.dead_letter) if t not in existing]
    if missing and topics.create_missing:
        _create(admin, [NewTopic(t) for t in missing])
        log.info("created topics %s", missing)
    return existing


def _create(admin: AdminClient, new: list[NewTopic]) -> None:
    """Create topics; one created meanwhile by another worker is fine."""
    for name, future in admin.create_topics(new).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaBoundaryError(f"cannot create topic {name!r}: {exc}") from exc


@dataclass(frozen=True)
class InternalTopics:
    repartition: str
    changelog: str
    partitions: int


def internal_topics(config: Config, events_partitions: int) -> InternalTopics:
    group = str(config.kafka.get("group.id", "drift-detector"))
    topics = config.kafka_topics
    return InternalTopics(
        repartition=topics.repartition or f"{group}-repartition",
        changelog=topics.changelog or f"{group}-changelog",
        partitions=config.processing.partitions or events_partitions,
    )


def ensure_internal_topics(
    admin: AdminClient, config: Config, existing: dict[str, Any], internal: InternalTopics
) -> None:
    """Create the internal topics if missing; refuse ones with another partition count (units
    would be owned by other partitions than their state)."""
    wanted = {
        internal.repartition: {"cleanup.policy": "delete", "max.message.bytes": str(MAX_RECORD)},
        internal.changelog: {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
    }
    for name in wanted:
        if name in existing and len(existing[name].partitions) != internal.partitions:
            raise KafkaBoundaryError(
                f"processing.partitions: internal topic {name!r} has "
                f"{len(existing[name].partitions)} partitions, expected {internal.partitions} "
                "(delete it, or set processing.partitions to its count)"
            )
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return
    replication = config.processing.replication_factor
    _create(
        admin, [NewTopic(n, internal.partitions, replication, config=wanted[n]) for n in missing]
    )
    _wait_visible(admin, config, missing, internal.partitions)
    log.info("created internal topics %s", missing)


def _wait_visible(admin: AdminClient, config: Config, names: list[str], partitions: int) -> None:
    """Wait until metadata shows the new topics with a leader per partition: a subscription
    made before that leaves them out until the next metadata refresh, minutes later."""
    deadline = time.monotonic() + _METADATA_TIMEOUT
    while True:
        topics = list_topics(admin, config.kafka, _METADATA_TIMEOUT)
        ready = all(
            name in topics
            and len(topics[name].partitions) == partitions
            and all(p.leader >= 0 for p in topics[name].partitions.values())
            for name in names
        )
        if ready:
            return
        if time.monotonic() > deadline:
            raise KafkaBoundaryError(f"internal topics {names} not visible after creation")
        time.sleep(0.2)


def slice_records(config: Config, whole: Slice, partitions: int) -> dict[int, bytes]:
    """One repartition record per partition that owns a unit of the batch: its share."""
    shares = partition_slices(config, whole, partitions)
    return {p: encode_slice(share) for p, share in shares.items()}


def read_slice(value: bytes | None) -> Slice:
    """The slice of a repartition record; StateError if it is not one of ours."""
    return decode_slice(value or b"")


def unit_key_bytes(key: UnitKey) -> bytes:
    return orjson.dumps(list(key))


def unit_key_of(data: bytes | None) -> UnitKey:
    """A changelog key back to a unit key; StateError if malformed."""
    try:
        parts = orjson.loads(data or b"")
    except orjson.JSONDecodeError as exc:
        raise StateError(f"changelog key is not JSON: {exc}") from exc
    if (
        not isinstance(parts, list)
        or len(parts) != 3
        or not isinstance(parts[0], str)
        or not all(p is None or isinstance(p, str) for p in parts[1:])
    ):
        raise StateError("changelog key must be [feature, dimension, value]")
    return (parts[0], parts[1], parts[2])
