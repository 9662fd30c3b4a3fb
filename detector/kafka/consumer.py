"""The worker's consumer: the one place that talks to ``confluent_kafka.Consumer``.

Group membership and its callbacks (mapped to a :class:`Membership` listener), consumption,
the committed offsets with their metadata (each input partition's partition time,
:mod:`detector.order`, committed with its offset as Kafka Streams does), where a newly
assigned partition starts, seeks, pause and resume, watermarks, and a close that does not
commit again. Errors of the client become :class:`~detector.errors.KafkaBoundaryError`.

Input topics follow ``auto.offset.reset`` when the group has no committed offset. The
repartition topic always starts at its beginning: with ``latest``, chunks that stage one
produced before this group's first fetch would otherwise be skipped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from detector.config import Config
from detector.errors import KafkaBoundaryError
from detector.kafka.clients import Props, create_client, describe_error
from detector.order import NO_TIME

log = logging.getLogger("detector.worker")
_TIMEOUT = 60.0
Coords = tuple[str, int]  # topic, partition

# A lost membership (session expired during an outage, a zombie after a long pause): the
# partitions are someone else's now; the client rejoins on its own.
MEMBERSHIP_LOST = frozenset(
    {
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.FENCED_INSTANCE_ID,
        KafkaError._ASSIGNMENT_LOST,
    }
)


class Membership(Protocol):
    """What the worker does when the group hands partitions over."""

    def assigned(self, partitions: list[TopicPartition]) -> None: ...

    def revoked(self, partitions: list[TopicPartition]) -> None: ...

    def lost(self, partitions: list[TopicPartition]) -> None: ...


@dataclass(frozen=True)
class Committed:
    """A partition's committed position: ``offset`` < 0 when the group has none."""

    offset: int
    ptime: float = NO_TIME


def commit_metadata(ptime: float) -> str:
    """The metadata committed with an input partition's offset (its partition time)."""
    return orjson.dumps({"ptime": ptime if math.isfinite(ptime) else None}).decode()


def read_metadata(metadata: str | None) -> float:
    """The partition time in committed metadata; none (or anything unreadable) is NO_TIME."""
    try:
        value = orjson.loads(metadata or "{}").get("ptime")
    except (orjson.JSONDecodeError, AttributeError):
        return NO_TIME
    return float(value) if type(value) in (int, float) and math.isfinite(value) else NO_TIME


def lost_membership(err: KafkaError) -> bool:
    return err.code() in MEMBERSHIP_LOST


class GroupConsumer:
    """A consumer-group member reading the input and repartition topics."""

    def __init__(self, config: Config, props: Props, repartition: str) -> None:
        self.config = config
        self.repartition = repartition
        self.strategy = str(props.get("partition.assignment.strategy", "range"))
        self.props = props
        self.client: Consumer = create_client(Consumer, props)
        self.closing = False  # close() has begun: its revocation must not commit
        self._listener: Membership | None = None

    # -- membership ----------------------------------------------------------------------------

    def subscribe(self, topics: list[str], listener: Membership) -> None:
        self._listener = listener
        self.client.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )

    def _on_assign(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        self._start_repartition_from_beginning(partitions)
        # A partition paused before a rebalance can come back still paused in librdkafka: every
        # assigned partition starts flowing (the worker pauses again what it must).
        if partitions:
            self.client.resume([TopicPartition(p.topic, p.partition) for p in partitions])
        assert self._listener is not None
        self._listener.assigned(partitions)

    def _on_revoke(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._listener is not None
        self._listener.revoked(partitions)

    def _on_lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._listener is not None
        self._listener.lost(partitions)

    def _start_repartition_from_beginning(self, partitions: list[TopicPartition]) -> None:
        """Repartition partitions without a committed offset start at 0 (not at the end)."""
        ours = [(p.topic, p.partition) for p in partitions if p.topic == self.repartition]
        if not ours:
            return
        fresh = {tp for tp, c in self.committed(ours).items() if c.offset < 0}
        if not fresh:
            return
        for tp in partitions:
            if (tp.topic, tp.partition) in fresh:
                tp.offset = OFFSET_BEGINNING
        if "cooperative" in self.strategy:
            self.client.incremental_assign(partitions)
        else:
            self.client.assign(partitions)

    def assignment(self) -> list[Coords]:
        return [(tp.topic, tp.partition) for tp in self.client.assignment()]

    # -- positions -----------------------------------------------------------------------------

    def consume(self, count: int, timeout: float) -> list[Message]:
        return list(self.client.consume(count, timeout=timeout))

    def committed(self, partitions: Iterable[Coords]) -> dict[Coords, Committed]:
        """The group's committed offsets and partition times."""
        wanted = [TopicPartition(t, p) for t, p in partitions]
        if not wanted:
            return {}
        try:
            found = self.client.committed(wanted, timeout=_TIMEOUT)
        except KafkaException as exc:
            raise KafkaBoundaryError(
                f"cannot read committed offsets: {describe_error(exc.args[0])}"
            ) from exc
        return {
            (tp.topic, tp.partition): Committed(int(tp.offset), read_metadata(tp.metadata))
            for tp in found
        }

    def start_offset(self, topic: str, committed: Committed) -> int:
        """Where a partition is read from, given its committed position."""
        if committed.offset >= 0:
            return committed.offset
        if topic == self.repartition:
            return OFFSET_BEGINNING
        reset = str(self.config.kafka.get("auto.offset.reset", "earliest"))
        return OFFSET_END if reset in ("latest", "largest", "end") else OFFSET_BEGINNING

    def seek(self, topic: str, partition: int, offset: int) -> None:
        self.client.seek(TopicPartition(topic, partition, offset))

    def pause(self, partitions: Iterable[Coords]) -> None:
        parts = [TopicPartition(t, p) for t, p in partitions]
        if parts:
            self.client.pause(parts)

    def resume(self, partitions: Iterable[Coords]) -> None:
        parts = [TopicPartition(t, p) for t, p in partitions]
        if parts:
            self.client.resume(parts)

    def high_watermark(self, topic: str, partition: int) -> int:
        try:
            _, high = self.client.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=_TIMEOUT
            )
        except KafkaException as exc:
            raise KafkaBoundaryError(
                f"cannot read the end offset of {topic}[{partition}]: {describe_error(exc.args[0])}"
            ) from exc
        return int(high)

    def positions(self, topic: str, partitions: list[int]) -> dict[int, tuple[int, int]]:
        """(position, high watermark) of assigned partitions, -1 where not known yet: local
        calls only (the watermarks librdkafka cached from its last fetch), for consumer lag."""
        found = self.client.position([TopicPartition(topic, p) for p in partitions])
        out: dict[int, tuple[int, int]] = {}
        for tp in found:
            _, high = self.client.get_watermark_offsets(tp, cached=True)
            out[tp.partition] = (int(tp.offset), int(high))
        return out

    def group_metadata(self) -> Any:
        return self.client.consumer_group_metadata()

    # -- the end -------------------------------------------------------------------------------

    def close(self) -> None:
        """Leave the group. Its revocation does not commit (the caller committed already), and
        a membership that was lost meanwhile is not an error."""
        self.closing = True
        try:
            self.client.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("closing the consumer: %s", exc)
