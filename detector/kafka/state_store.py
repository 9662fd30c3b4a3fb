"""Unit state in the changelog topic: snapshots at each commit, restore on assignment.

A unit's snapshot is keyed by the unit and holds ``{"applied": {source: offset}, "config": f,
"unit": state}``: the state includes every row of each input source before ``offset``
(:mod:`detector.order`), and was built under the detection settings with fingerprint ``f`` (a
snapshot from other settings, say another window size, would not mean the same thing, so it
is discarded). After a restore the unit skips rows its snapshot covers, so rows replayed after
a crash, whose input offsets were not committed yet, are not applied twice.

Each repartition partition's merge (:mod:`detector.merge`) is saved the same way under the key
``["#merge", "<partition>", null]``: the sources' bounds and offsets received as of the offset
the commit records, which a new owner resumes from.

A snapshot that cannot be used is discarded with a warning naming the unit, and the unit starts
afresh as after its warm-up, rather than stopping the worker: undecodable bytes, another
version or other settings, a unit of the wrong kind or shape (:mod:`detector.state.shape`), or
offsets beyond the end of their input partition (no snapshot can have seen those rows).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from detector.chunks import UnitKey, unit_partition
from detector.config import Config
from detector.errors import KafkaBoundaryError, StateError
from detector.kafka.clients import Props, create_client, describe_error, produce
from detector.kafka.internal import InternalTopics, unit_key_bytes, unit_key_of
from detector.merge import MergeState
from detector.order import Bound
from detector.state.codec import Shared, decode_state, encode_state
from detector.state.shape import check_shape
from detector.units import Unit, Units

log = logging.getLogger("detector.state")
_RESTORE_TIMEOUT = 300.0
MERGE_KEY = "#merge"


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


def merge_key(partition: int) -> UnitKey:
    return (MERGE_KEY, str(partition), None)


class StateStore:
    """The units of the repartition partitions this worker owns: restored from the changelog,
    and the changed ones (:meth:`~detector.units.Units.take_dirty`) snapshotted to it."""

    def __init__(self, units: Units, internal: InternalTopics, consumer_props: Props) -> None:
        self.units = units
        self.internal = internal
        self._props = consumer_props
        self.applied: dict[UnitKey, dict[int, int]] = {}  # restored units: offsets covered
        self.restored_units = 0
        self.discarded = 0
        self.restore_seconds = 0.0
        self.fingerprint = config_fingerprint(units.config)
        self._saved_merges: dict[int, MergeState] = {}

    def owner(self, key: UnitKey) -> int:
        return unit_partition(key, self.internal.partitions)

    # -- restore -------------------------------------------------------------------------------

    def restore(
        self, partitions: Iterable[int], sources: dict[int, tuple[str, int]]
    ) -> dict[int, MergeState | None]:
        """Read the changelog partitions to their end; install each unit's latest snapshot and
        return each partition's merge state. ``sources``: the input partition of each source,
        whose end offset no snapshot can be past (one claiming more is forged, or from a
        topic that was deleted and created again)."""
        wanted = sorted(set(partitions))
        if not wanted:
            return {}
        started = time.monotonic()
        latest, ends = self._read(wanted, sources)
        before = self.restored_units
        shared = self.units.shared_state()
        merges: dict[int, MergeState | None] = dict.fromkeys(wanted)
        for key_bytes, value in latest.items():
            try:
                key = unit_key_of(key_bytes)
            except StateError as exc:
                self._discard(repr(key_bytes[:100]), exc)
                continue
            if key[0] == MERGE_KEY:
                partition, state = self._merge_state(key, value, ends)
                if partition in merges:
                    merges[partition] = state
            else:
                self._install(key, value, shared, ends)
        self.restore_seconds = time.monotonic() - started
        log.info(
            "restored %d unit(s) of partitions %s in %.2f s",
            self.restored_units - before,
            wanted,
            self.restore_seconds,
        )
        for partition, state in merges.items():
            if state is not None:
                self._saved_merges[partition] = state
        return merges

    def _read(
        self, partitions: list[int], sources: dict[int, tuple[str, int]]
    ) -> tuple[dict[bytes, bytes | None], dict[int, int]]:
        """The latest value per key of the changelog partitions, and each source's end."""
        latest: dict[bytes, bytes | None] = {}
        props = {**self._props, "group.id": f"{self._props.get('group.id')}-restore"}
        props.update({"enable.auto.commit": False, "enable.partition.eof": True})
        consumer = create_client(Consumer, props)
        try:
            ends = _ends(consumer, sources)
            topic = self.internal.changelog
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            pending = set(partitions)
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
        return latest, ends

    def _install(
        self, key: UnitKey, value: bytes | None, shared: Shared, ends: dict[int, int]
    ) -> None:
        if value is None:  # a tombstone: the unit was deleted
            self.units.drop([key])
            return
        try:
            snapshot = decode_state(value, shared)
            if not isinstance(snapshot, dict) or set(snapshot) != {"applied", "config", "unit"}:
                raise StateError("a snapshot must be {applied, config, unit}")
            if snapshot["config"] != self.fingerprint:
                raise StateError("it was taken under other detection settings")
            applied = _offsets(snapshot["applied"], ends)
            unit = snapshot["unit"]
            check_shape(unit, self.units.template(key))
            self.units.install(key, unit)
        except (StateError, ValueError, TypeError) as exc:
            self.units.drop([key])
            self._discard(str(key), exc)
            return
        self.applied[key] = applied
        self.restored_units += 1

    def _merge_state(
        self, key: UnitKey, value: bytes | None, ends: dict[int, int]
    ) -> tuple[int, MergeState | None]:
        try:
            partition = int(key[1] or "")
            if value is None:
                return partition, None
            saved = decode_state(value)
            if not isinstance(saved, dict) or set(saved) != {"bounds", "received", "config"}:
                raise StateError("a merge state must be {bounds, received, config}")
            if saved["config"] != self.fingerprint:
                raise StateError("it was taken under other detection settings")
            received = _offsets(saved["received"], ends)
            bounds: dict[int, Bound] = {}
            for entry in saved["bounds"]:
                source, ptime, offset, at_end = entry
                if not (
                    type(source) is int
                    and type(ptime) is float
                    and not math.isnan(ptime)
                    and type(at_end) is bool
                ):
                    raise StateError("a bound is [source, partition time, offset, at end]")
                offset = _offsets({source: offset}, ends)[source]
                bounds[source] = Bound(ptime, source, offset, at_end)
            return partition, MergeState(bounds, received)
        except (StateError, ValueError, TypeError) as exc:
            self._discard(str(key), exc)
            return -1, None

    def _discard(self, name: str, exc: Exception) -> None:
        self.discarded += 1
        log.warning("discarded the state snapshot of %s (%s): it starts afresh", name, exc)

    # -- snapshots -----------------------------------------------------------------------------

    def snapshot(
        self,
        producer: Producer,
        merges: dict[int, tuple[MergeState, dict[int, int]]],
        on_delivery: Callable[..., Any],
    ) -> int:
        """Produce the units changed since the last snapshot (of owned partitions), and each
        merge state that changed. ``merges``: per owned partition, its merge state as of the
        offset being committed, and the offsets its merge released so far (what its units'
        state covers). Returns the number of snapshots produced."""
        dirty = self.units.take_dirty()
        try:
            written = self._snapshot_units(producer, dirty, merges, on_delivery)
        except BaseException:  # not all produced: the next commit snapshots them again
            for key in dirty:
                self.units.touch(key)
            raise
        return written + self._snapshot_merges(producer, merges, on_delivery)

    def _snapshot_units(
        self,
        producer: Producer,
        keys: set[UnitKey],
        merges: dict[int, tuple[MergeState, dict[int, int]]],
        on_delivery: Callable[..., Any],
    ) -> int:
        shared = self.units.shared_state()
        written = 0
        for key in sorted(keys, key=repr):
            unit: Unit | None = self.units.unit(key)
            partition = self.owner(key)
            if unit is None or partition not in merges:
                continue
            released = merges[partition][1]
            applied = dict(released)
            for source, offset in self.applied.get(key, {}).items():
                applied[source] = max(applied.get(source, 0), offset)
            snapshot = {"applied": applied, "config": self.fingerprint, "unit": unit}
            self._produce(producer, key, partition, encode_state(snapshot, shared), on_delivery)
            written += 1
        return written

    def _snapshot_merges(
        self,
        producer: Producer,
        merges: dict[int, tuple[MergeState, dict[int, int]]],
        on_delivery: Callable[..., Any],
    ) -> int:
        written = 0
        for partition, (state, _) in sorted(merges.items()):
            if self._saved_merges.get(partition) == state:
                continue
            saved = {
                "bounds": [
                    [b.source, float(b.ptime), b.offset, b.at_end] for b in state.bounds.values()
                ],
                "received": dict(state.received),
                "config": self.fingerprint,
            }
            key = merge_key(partition)
            self._produce(producer, key, partition, encode_state(saved), on_delivery)
            self._saved_merges[partition] = state
            written += 1
        return written

    def _produce(
        self,
        producer: Producer,
        key: UnitKey,
        partition: int,
        value: bytes,
        on_delivery: Callable[..., Any],
    ) -> None:
        produce(
            producer,
            self.internal.changelog,
            key=unit_key_bytes(key),
            value=value,
            partition=partition,
            on_delivery=on_delivery,
        )

    def caught_up(self, released: dict[int, int], partition: int) -> None:
        """Forget the covered offsets of the partition's restored units once its merge has
        released past them: every later row is new to them."""
        for key in [k for k in self.applied if self.owner(k) == partition]:
            covered = self.applied[key]
            if all(released.get(s, 0) >= o for s, o in covered.items()):
                del self.applied[key]

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the units of partitions that moved to another worker."""
        gone = set(partitions)
        keys = [k for k in self.units.unit_keys() if self.owner(k) in gone]
        self.units.drop(keys)
        for key in [k for k in self.applied if self.owner(k) in gone]:
            del self.applied[key]
        for partition in gone:
            self._saved_merges.pop(partition, None)


def _ends(consumer: Consumer, sources: dict[int, tuple[str, int]]) -> dict[int, int]:
    """Each source's end offset (its partition's high watermark)."""
    ends: dict[int, int] = {}
    for source, (topic, partition) in sources.items():
        try:
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=_RESTORE_TIMEOUT / 10
            )
        except KafkaException as exc:
            raise KafkaBoundaryError(
                f"cannot read the end offset of {topic}[{partition}]: {describe_error(exc.args[0])}"
            ) from exc
        ends[source] = int(high)
    return ends


def _offsets(value: Any, ends: dict[int, int]) -> dict[int, int]:
    """``{source: offset}`` read from a snapshot, each at most its source's end offset."""
    if not isinstance(value, dict):
        raise StateError("offsets must be a mapping of source to offset")
    out: dict[int, int] = {}
    for source, offset in value.items():
        if type(source) is not int or type(offset) is not int or offset < 0:
            raise StateError("offsets must map source numbers to non-negative offsets")
        end = ends.get(source)
        if end is None:
            raise StateError(f"source {source} is not an input partition")
        if offset > end:
            raise StateError(f"it covers offset {offset} of source {source}, whose end is {end}")
        out[source] = offset
    return out
