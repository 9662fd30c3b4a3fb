"""Kafka plumbing of the router: client properties, its topics, and reading compacted topics.

The router's own topics (state and silences) are compacted and have one partition, so a reader
restores them by reading from the beginning to the end offsets it saw at start.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from detector.errors import ConfigError, KafkaBoundaryError
from detector.kafka.clients import (
    CONSUMER_ONLY_PREFIXES,
    PRODUCER_ONLY_PREFIXES,
    Props,
    create_client,
    describe_error,
    list_topics,
)
from detector.routing.config import RouterKafkaConfig

METADATA_TIMEOUT = 30.0
RecordHandler = Callable[[bytes | None, bytes | None], None]


def _only(props: Props, drop: tuple[str, ...]) -> Props:
    return {k: v for k, v in props.items() if not k.startswith(drop)}


def bootstrap(config: RouterKafkaConfig) -> Props:
    if "bootstrap.servers" not in config.kafka:
        raise ConfigError("kafka.bootstrap.servers: required")
    return _only(config.kafka, CONSUMER_ONLY_PREFIXES + PRODUCER_ONLY_PREFIXES)


def consumer_props(config: RouterKafkaConfig, forced: Props | None = None) -> Props:
    props: Props = {"auto.offset.reset": "latest"}
    props.update(_only(config.kafka, PRODUCER_ONLY_PREFIXES))
    props.update({"enable.auto.commit": False, "isolation.level": "read_committed"})
    props.update(forced or {})
    return props


def producer_props(config: RouterKafkaConfig, forced: Props | None = None) -> Props:
    props: Props = {"linger.ms": 0, "compression.type": "lz4"}
    props.update(_only(config.kafka, CONSUMER_ONLY_PREFIXES))
    props.update({"enable.idempotence": True, "acks": "all"})
    props.update(forced or {})
    return props


def ensure_topics(config: RouterKafkaConfig) -> dict[str, int]:
    """Check the alerts topic, create the router's own topics; return partition counts."""
    topics = config.topics
    admin = create_client(AdminClient, bootstrap(config))
    existing = list_topics(admin, config.kafka, METADATA_TIMEOUT)
    if topics.alerts not in existing:
        raise KafkaBoundaryError(f"topics.alerts: topic {topics.alerts!r} does not exist")
    compact = {"cleanup.policy": "compact"}
    wanted = {
        topics.state: NewTopic(topics.state, 1, config=compact),
        topics.silences: NewTopic(topics.silences, 1, config=compact),
        topics.dead_letter: NewTopic(topics.dead_letter, 1),
    }
    missing = [new for name, new in wanted.items() if name not in existing]
    if missing and not topics.create_missing:
        raise KafkaBoundaryError(f"missing topics {[t.topic for t in missing]}")
    for name, future in admin.create_topics(missing).items() if missing else []:
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaBoundaryError(f"cannot create topic {name!r}: {exc}") from exc
    meta = admin.list_topics(timeout=METADATA_TIMEOUT).topics
    return {
        name: len(meta[name].partitions) for name in meta if name in wanted or name == topics.alerts
    }


class CompactedReader:
    """Reads every partition of a topic from the beginning, outside any consumer group."""

    def __init__(self, config: RouterKafkaConfig, topic: str, handle: RecordHandler) -> None:
        self.topic = topic
        self.handle = handle
        self.consumer = create_client(
            Consumer,
            consumer_props(
                config,
                {
                    "group.id": f"drift-router-reader-{uuid.uuid4().hex[:8]}",
                    "enable.partition.eof": True,
                    "auto.offset.reset": "earliest",
                },
            ),
        )

    def read_to_end(self, deadline: float = METADATA_TIMEOUT) -> int:
        """Assign all partitions at the beginning and read up to the end offsets seen now."""
        try:
            meta = self.consumer.list_topics(self.topic, timeout=METADATA_TIMEOUT)
            partitions = list(meta.topics[self.topic].partitions)
            ends = {}
            for p in partitions:
                low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=METADATA_TIMEOUT
                )
                ends[p] = (low, high)
        except KafkaException as exc:
            raise KafkaBoundaryError(f"cannot read {self.topic!r}: {exc}") from exc
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        pending = {p for p, (low, high) in ends.items() if high > low}
        count = 0
        until = time.monotonic() + deadline
        while pending:
            if time.monotonic() > until:
                raise KafkaBoundaryError(f"could not read {self.topic!r} to its end in {deadline}s")
            for msg in self.consumer.consume(500, timeout=0.2):
                err = msg.error()
                part = msg.partition() or 0
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(part)
                        continue
                    raise KafkaBoundaryError(f"reading {self.topic!r}: {describe_error(err)}")
                self.handle(msg.key(), msg.value())
                count += 1
                if (msg.offset() or 0) + 1 >= ends[part][1]:
                    pending.discard(part)
        return count

    def poll(self) -> int:
        """Apply whatever arrived since the last call, without waiting."""
        count = 0
        for msg in self.consumer.consume(500, timeout=0):
            if msg.error() is None:
                self.handle(msg.key(), msg.value())
                count += 1
        return count

    def close(self) -> None:
        self.consumer.close()
