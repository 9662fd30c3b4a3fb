"""Where the worker's consumer reads from: committed offsets, a new group's start, a rewind.

Input topics follow ``auto.offset.reset`` when the group has no committed offset. The
repartition topic always starts at its beginning: with ``latest``, chunks that stage one
produced before this group's first fetch would otherwise be skipped.
"""

from __future__ import annotations

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

from detector.config import Config
from detector.errors import KafkaBoundaryError
from detector.kafka.clients import describe_error

_TIMEOUT = 60.0


def committed(consumer: Consumer, partitions: list[TopicPartition]) -> list[TopicPartition]:
    """The group's committed offsets (negative where none)."""
    try:
        return list(consumer.committed(partitions, timeout=_TIMEOUT))
    except KafkaException as exc:
        raise KafkaBoundaryError(
            f"cannot read committed offsets: {describe_error(exc.args[0])}"
        ) from exc


def start_offset(config: Config, repartition: str, tp: TopicPartition) -> int:
    """The offset to read ``tp`` from, given its committed offset in ``tp.offset``."""
    if tp.offset >= 0:
        return int(tp.offset)
    if tp.topic == repartition:
        return OFFSET_BEGINNING
    reset = str(config.kafka.get("auto.offset.reset", "earliest"))
    return OFFSET_END if reset in ("latest", "largest", "end") else OFFSET_BEGINNING


def assign_repartition_from_start(
    consumer: Consumer, config: Config, repartition: str, partitions: list[TopicPartition]
) -> None:
    """In ``on_assign``: repartition partitions without a committed offset start at 0."""
    ours = [p for p in partitions if p.topic == repartition]
    if not ours:
        return
    fresh = {(c.topic, c.partition) for c in committed(consumer, ours) if c.offset < 0}
    if not fresh:
        return
    for tp in partitions:
        if (tp.topic, tp.partition) in fresh:
            tp.offset = OFFSET_BEGINNING
    strategy = str(config.kafka.get("partition.assignment.strategy", "range"))
    if "cooperative" in strategy:
        consumer.incremental_assign(partitions)
    else:
        consumer.assign(partitions)
