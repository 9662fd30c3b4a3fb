"""Unit state in the changelog topic: snapshots at each commit, restore on assignment.

A snapshot record is keyed by its unit and holds ``{"offset": o, "config": f, "unit": state}``:
the state includes every repartition record before offset ``o`` of its partition, and was built
under the detection settings with fingerprint ``f`` (a snapshot from other settings, say another
window size, would not mean the same thing, so it is discarded). After a restore, the
worker skips a unit's chunks from records before that offset, so a snapshot written just before
a crash, whose offsets were not committed yet, is not applied twice when those records come
back. Undecodable or other-version snapshots are discarded (counted and logged): the unit
starts afresh, as after its warm-up, rather than stopping the worker.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from detector.chunks import UnitKey, unit_partition
from detector.config import Config
from detector.engine import Engine, Unit
from detector.errors import KafkaBoundaryError, StateError
from detector.kafka.clients import Props, describe_error
from detector.kafka.internal import InternalTopics, unit_key_bytes, unit_key_of
from detector.state.codec import Shared, decode_state, encode_state

log = logging.getLogger("detector.state")
_RESTORE_TIMEOUT = 300.0


def config_fingerprint(config: Config) -> str:
    """A digest of the settings that give unit state its meaning (not Kafka or run settings)."""
    meaning = config.model_dump(
        mode="json",
        include={
            "model",
            "event",
            "segments",
            "features",
            "prediction",
            "baseline",
            "detection",
            "label",
            "performance",
        },
    )
    return hashlib.sha256(orjson.dumps(meaning, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


class StateStore:
    """The engine's units of the repartition partitions this worker owns."""

    def __init__(self, engine: Engine, internal: InternalTopics, consumer_props: Props) -> None:
        self.engine = engine
        self.internal = internal
        self._props = consumer_props
        self.applied: dict[UnitKey, int] = {}  # restored units: first repartition offset to apply
        self.restored_units = 0
        self.discarded = 0
        self.restore_seconds = 0.0
        self.fingerprint = config_fingerprint(engine.config)

    def owner(self, key: UnitKey) -> int:
        return unit_partition(key, self.internal.partitions)

    def restore(self, partitions: Iterable[int]) -> None:
        """Read the changelog partitions to their end; install each unit's latest snapshot."""
        wanted = sorted(set(partitions))
        if not wanted:
            return
        started = time.monotonic()
        latest: dict[bytes, bytes | None] = {}
        props = {**self._props, "group.id": f"{self._props.get('group.id')}-restore"}
        props.update({"enable.auto.commit": False, "enable.partition.eof": True})
        consumer = Consumer(props)
        try:
            topic = self.internal.changelog
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in wanted])
            pending = set(wanted)
            deadline = time.monotonic() + _RESTORE_TIMEOUT
            while pending:
                if time.monotonic() > deadline:
                    raise KafkaBoundaryError(f"restoring {topic} {sorted(pending)} timed out")
                for message in consumer.consume(1000, timeout=0.5):
                    err = message.error()
                    if err is None:
                        latest[message.key() or b""] = message.value()
                    elif err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(message.partition() or 0)
                    elif err.fatal():
                        raise KafkaBoundaryError(f"changelog read failed: {describe_error(err)}")
        finally:
            consumer.close()
        before = self.restored_units
        shared = self.engine.shared_state()
        for key_bytes, value in latest.items():
            self._install(key_bytes, value, shared)
        self.restore_seconds = time.monotonic() - started
        log.info(
            "restored %d unit(s) of partitions %s in %.2f s",
            self.restored_units - before,
            wanted,
            self.restore_seconds,
        )

    def _install(self, key_bytes: bytes, value: bytes | None, shared: Shared | None = None) -> None:
        try:
            key = unit_key_of(key_bytes)
            if value is None:  # a tombstone: the unit was deleted
                self.engine.drop([key])
                return
            shared = self.engine.shared_state() if shared is None else shared
            snapshot = decode_state(value, shared)
            if not isinstance(snapshot, dict) or not isinstance(snapshot.get("offset"), int):
                raise StateError("a snapshot must be {offset, config, unit}")
            if snapshot.get("config") != self.fingerprint:
                raise StateError("it was taken under other detection settings")
            self.engine.install(key, snapshot["unit"])
        except (StateError, ValueError) as exc:
            self.discarded += 1
            log.warning("discarded a state snapshot (%s): the unit starts afresh", exc)
            return
        self.applied[key] = snapshot["offset"]
        self.restored_units += 1

    def fresh(self, key: UnitKey, offset: int) -> bool:
        """Whether a chunk of the repartition record at ``offset`` is new to its unit."""
        start = self.applied.get(key)
        if start is None:
            return True
        if offset >= start:
            del self.applied[key]  # caught up: later records are all new
            return True
        return False

    def snapshot(
        self, producer: Producer, positions: dict[int, int], on_delivery: Callable[..., Any]
    ) -> int:
        """Produce the dirty units of owned partitions; ``positions``: next repartition offset
        per owned partition. Returns the number of snapshots produced."""
        shared = self.engine.shared_state()
        written = 0
        for key in sorted(self.engine.dirty, key=repr):
            unit: Unit | None = self.engine.unit(key)
            partition = self.owner(key)
            if unit is None or partition not in positions:
                continue
            snapshot = {"offset": positions[partition], "config": self.fingerprint, "unit": unit}
            value = encode_state(snapshot, shared)
            producer.produce(
                self.internal.changelog,
                key=unit_key_bytes(key),
                value=value,
                partition=partition,
                on_delivery=on_delivery,
            )
            written += 1
        self.engine.dirty.clear()
        return written

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the units of partitions that moved to another worker."""
        gone = set(partitions)
        keys = [k for k in self.engine.unit_keys() if self.owner(k) in gone]
        self.engine.drop(keys)
        for key in keys:
            self.applied.pop(key, None)
