"""The router's durable state: a compacted topic written in Kafka transactions.

Keys: ``group/<group key>`` holds a group (members, timers, and its outbox: notifications with
the sinks that already accepted them); ``applied/<alerts topic>`` holds, per partition, the last
alert offset folded into the groups. Each checkpoint writes the changed keys, the dead letters
of permanently rejected notifications and the alerts topic offsets in ONE transaction, so the
state and the committed offsets never disagree. Values are JSON (never pickle). The
transactional id fences a second router with the same config: the older one stops.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from detector.errors import ConfigError, KafkaBoundaryError
from detector.kafka.clients import create_client, describe_error
from detector.routing.config import RouterConfig
from detector.routing.dead_letters import DeadLetter
from detector.routing.grouping import Group
from detector.routing.topics import METADATA_TIMEOUT, CompactedReader, producer_props

STATE_VERSION = 1
GROUP_PREFIX = "group/"
APPLIED_PREFIX = "applied/"


@dataclass
class Restored:
    groups: dict[str, Group] = field(default_factory=dict)
    applied: dict[int, int] = field(default_factory=dict)
    records: int = 0


def transactional_id(config: RouterConfig) -> str:
    if config.transactional_id:
        return config.transactional_id
    group = config.kafka.get("group.id")
    if not group:
        raise ConfigError("kafka.group.id: required, the router's consumer group")
    return f"drift-router-{group}"


class StateStore:
    """Restores the state at start; writes checkpoints transactionally afterwards."""

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        props = producer_props(config, {"transactional.id": transactional_id(config)})
        self.producer = create_client(Producer, props)

    def restore(self) -> Restored:
        """Fence older instances (aborting their open transaction), then read the state."""
        try:
            self.producer.init_transactions(METADATA_TIMEOUT)
        except KafkaException as exc:
            raise KafkaBoundaryError(f"init_transactions: {describe_error(exc.args[0])}") from exc
        restored = Restored()
        alerts = self.config.topics.alerts

        def handle(key: bytes | None, value: bytes | None) -> None:
            if key is None:
                return
            name = key.decode()
            data: dict[str, Any] | None = orjson.loads(value) if value is not None else None
            if name.startswith(GROUP_PREFIX):
                gkey = name[len(GROUP_PREFIX) :]
                if data is None:
                    restored.groups.pop(gkey, None)
                else:
                    restored.groups[gkey] = Group.from_json(data["group"])
            elif name == APPLIED_PREFIX + alerts and data is not None:
                restored.applied = {int(p): o for p, o in data["applied"].items()}

        reader = CompactedReader(self.config, self.config.topics.state, handle)
        try:
            restored.records = reader.read_to_end()
        finally:
            reader.close()
        return restored

    def checkpoint(
        self,
        groups: dict[str, Group | None],
        applied: dict[int, int],
        offsets: list[TopicPartition],
        consumer: Consumer,
        dead_letters: list[DeadLetter],
    ) -> None:
        """Write changed groups (None = delete), applied offsets, dead letters and offsets."""
        topics = self.config.topics
        try:
            self.producer.begin_transaction()
            for gkey, group in groups.items():
                value = None
                if group is not None:
                    value = orjson.dumps({"v": STATE_VERSION, "group": group.to_json()})
                self.producer.produce(topics.state, key=(GROUP_PREFIX + gkey).encode(), value=value)
            applied_json = {"v": STATE_VERSION, "applied": {str(p): o for p, o in applied.items()}}
            self.producer.produce(
                topics.state,
                key=(APPLIED_PREFIX + topics.alerts).encode(),
                value=orjson.dumps(applied_json),
            )
            for dl in dead_letters:
                self.producer.produce(
                    topics.dead_letter, key=dl.key, value=dl.value, headers=dl.headers
                )
            if offsets:
                self.producer.send_offsets_to_transaction(
                    offsets, consumer.consumer_group_metadata(), METADATA_TIMEOUT
                )
            self.producer.commit_transaction(METADATA_TIMEOUT)
        except KafkaException as exc:
            err = exc.args[0]
            if not err.fatal():
                with contextlib.suppress(KafkaException):
                    self.producer.abort_transaction(METADATA_TIMEOUT)
            raise KafkaBoundaryError(
                f"state checkpoint failed ({describe_error(err)}); "
                "restart the router: it resumes from the last committed state"
            ) from exc

    def close(self) -> None:
        self.producer.flush(METADATA_TIMEOUT)
