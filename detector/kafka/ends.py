"""``run --until-end``: where the worker stops, for tests, benchmarks and backfills.

The end is the input topics' end offsets read at start; then, because stage one feeds stage
two through the repartition topic, the repartition partitions this worker owns must be drained
up to their end offsets read once the input is done (and its chunks committed). Those are the
high watermarks as a read_uncommitted reader sees them: a read_committed consumer's (the
last stable offset) stops before a crashed worker's open transaction, and so before the
records committed after it, until that transaction times out. With several workers, each
stops when its own share is done.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from detector.config import Config
from detector.errors import KafkaBoundaryError
from detector.kafka.clients import create_client, describe_error

log = logging.getLogger("detector.worker")
_TIMEOUT = 30.0


def end_offsets(
    consumer: Consumer, topic: str, partitions: list[int] | None = None
) -> dict[int, int]:
    """High watermarks of a topic's partitions (all of them by default), as ``consumer``'s
    isolation level sees them."""
    return _ends(consumer, topic, partitions)


def true_end_offsets(props: dict[str, Any], topic: str, partitions: list[int]) -> dict[int, int]:
    """High watermarks past any open transaction (a read_uncommitted reader's)."""
    reader = {k: v for k, v in props.items() if not str(k).startswith(("group.", "isolation."))}
    reader.update({"group.id": "drift-end-offsets", "isolation.level": "read_uncommitted"})
    consumer = create_client(Consumer, reader)  # its connection errors condensed like the rest
    try:
        return _ends(consumer, topic, partitions)
    finally:
        consumer.close()


def _ends(consumer: Consumer, topic: str, partitions: list[int] | None = None) -> dict[int, int]:
    """High watermarks of a topic's partitions (all of them by default)."""
    ends = {}
    try:
        if partitions is None:
            meta = consumer.list_topics(topic, timeout=_TIMEOUT).topics[topic]
            partitions = list(meta.partitions)
        for partition in partitions:
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=_TIMEOUT
            )
            ends[partition] = high
    except KafkaException as exc:
        raise KafkaBoundaryError(
            f"cannot read end offsets of {topic!r}: {describe_error(exc.args[0])}"
        ) from exc
    return ends


class EndOffsets:
    """End offsets per topic, and how far each partition has been consumed."""

    def __init__(self) -> None:
        self.ends: dict[str, dict[int, int]] = {}
        self.progress: dict[tuple[str, int], int] = {}  # next offset consumed, or EOF offset
        self.events: dict[int, int] = {}  # the events topic's ends (for progress)

    def read_inputs(self, consumer: Consumer, config: Config) -> None:
        self.read(consumer, config.kafka_topics.events)
        if config.kafka_topics.labels is not None:
            self.read(consumer, config.kafka_topics.labels)
        self.events = self.ends[config.kafka_topics.events]
        log.info("will stop at end offsets %s", self.ends)

    def read(self, consumer: Consumer, topic: str, partitions: list[int] | None = None) -> None:
        self.ends[topic] = end_offsets(consumer, topic, partitions)

    def read_true(self, props: dict[str, Any], topic: str, partitions: list[int]) -> None:
        """The ends past open transactions (see the module docstring)."""
        self.ends[topic] = true_end_offsets(props, topic, partitions)

    def known(self, topic: str) -> bool:
        return topic in self.ends

    def seen(self, topic: str, partition: int, next_offset: int) -> None:
        """Records before ``next_offset`` were consumed, or EOF was reported there."""
        key = (topic, partition)
        self.progress[key] = max(self.progress.get(key, 0), next_offset)

    def done(self, topic: str, partitions: set[int], slack: int = 0) -> bool:
        """Whether every partition reached its end; ``slack``: offsets the end may be past the
        last record (1 for a transaction's commit marker)."""
        ends = self.ends.get(topic)
        if ends is None:
            return False
        return all(
            ends.get(p, 0) == 0 or self.progress.get((topic, p), 0) >= ends[p] - slack
            for p in partitions
        )
