"""The two inputs of a worker with labels: the events and the labels topic, merged.

Records of both topics are decoded as they are consumed and queued in the merge of
:mod:`detector.labels.merge`; runs leave it in merged event-time order, so a 1-partition ``run``
feeds the engine exactly what ``replay --labels`` does. A topic counts as *ended* for the merge
while every one of its assigned partitions sits at its end offset (``enable.partition.eof``):
then the other topic's records need not wait for it.

Offsets: a record still queued has not been processed, so the offset stored for its partition
stops at the first queued record (or goes past the last consumed one when none is queued). A
crash replays the queue. A topic whose queue grows past ``5 x run.batch_size`` rows is paused
until it drains to half that, so a stalled label topic cannot exhaust memory.

**Co-partitioning.** A prediction and its label must reach the same worker: both topics keyed
by the event id, with the same number of partitions, and the range assignor (librdkafka's
default) handing partition ``i`` of both to the same member. :func:`check_copartitioned` refuses
to start otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from detector.config import Config
from detector.errors import ConfigError, KafkaBoundaryError
from detector.events import Decoder, EventBatch, Rejection
from detector.labels.decode import LabelBatch, LabelDecoder
from detector.labels.merge import EVENTS, LABELS, Merger

log = logging.getLogger("detector.worker")
Coords = tuple[str, int, int]  # topic, partition, offset
QUEUE_BATCHES = 5


def check_assignor(config: Config) -> None:
    """The assignment strategy must give partition ``i`` of both topics to one member."""
    strategy = str(config.kafka.get("partition.assignment.strategy", "range"))
    if config.topics.labels is not None and not strategy.strip().startswith("range"):
        raise ConfigError(
            "kafka.partition.assignment.strategy: topics.labels needs the range assignor, so "
            f"partition i of both topics goes to the same worker (got {strategy!r})"
        )


def check_copartitioned(config: Config, topics: dict[str, Any]) -> None:
    """Fail with a clear message when the label topic is missing or not co-partitioned."""
    events, labels = config.topics.events, config.topics.labels
    if labels is None:
        return
    if labels not in topics:
        raise KafkaBoundaryError(f"topics.labels: topic {labels!r} does not exist")
    n_events, n_labels = len(topics[events].partitions), len(topics[labels].partitions)
    if n_events != n_labels:
        raise KafkaBoundaryError(
            f"topics.labels: {labels!r} has {n_labels} partition(s) but topics.events "
            f"{events!r} has {n_events}. Predictions and labels must be co-partitioned: both "
            "topics keyed by the event id, with the same number of partitions."
        )


def _coords(message: Message) -> Coords:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise KafkaBoundaryError("consumed a record without topic, partition or offset")
    return topic, partition, offset


class JoinedInput:
    """Decoding, merge queue, end-of-partition state and safe offsets of both topics."""

    def __init__(self, config: Config, decoder: Decoder) -> None:
        assert config.topics.labels is not None
        self.topics = (config.topics.events, config.topics.labels)
        self.decoder = decoder
        self.label_decoder = LabelDecoder(config)
        self.merger: Merger[Coords] = Merger()
        self.assigned: tuple[set[int], set[int]] = (set(), set())
        self.at_eof: tuple[set[int], set[int]] = (set(), set())
        self.paused: set[int] = set()  # sides whose partitions are paused
        self.limit = QUEUE_BATCHES * config.run.batch_size
        self._next: dict[tuple[str, int], int] = {}

    def side(self, topic: str | None) -> int:
        return LABELS if topic == self.topics[LABELS] else EVENTS

    def assign(self, partitions: list[TopicPartition], add: bool) -> None:
        for tp in partitions:
            side = self.side(tp.topic)
            if add:
                self.assigned[side].add(tp.partition)
            else:
                self.assigned[side].discard(tp.partition)
                self.at_eof[side].discard(tp.partition)
                self._next.pop((tp.topic, tp.partition), None)

    def eof(self, topic: str, partition: int, reached: bool) -> None:
        """A partition reached its end offset (``reached``), or a record came from it."""
        if reached:
            self.at_eof[self.side(topic)].add(partition)
        else:
            self.at_eof[self.side(topic)].discard(partition)

    def ended(self, side: int) -> bool:
        """Nothing queued or to be fetched right now on ``side``."""
        return not self.merger.waiting(side) and self.at_eof[side] >= self.assigned[side]

    def queued(self) -> bool:
        return bool(self.merger.waiting(EVENTS) or self.merger.waiting(LABELS))

    def add(self, records: list[Message]) -> list[tuple[Message, Rejection]]:
        """Decode and queue consumed records; return the rejected ones with their reasons."""
        split: tuple[list[Message], list[Message]] = ([], [])
        for record in records:
            topic, partition, offset = _coords(record)
            side = self.side(topic)
            split[side].append(record)
            self._next[(topic, partition)] = max(self._next.get((topic, partition), 0), offset + 1)
        rejected: list[tuple[Message, Rejection]] = []
        for side, messages in enumerate(split):
            if not messages:
                continue
            values = [m.value() for m in messages]
            times = [m.timestamp()[1] / 1000.0 for m in messages]
            batch: EventBatch | LabelBatch
            if side == EVENTS:
                result = self.decoder.decode(values, times)
                batch, rejections = result.batch, result.rejections
            else:
                decoded = self.label_decoder.decode(values, times)
                batch, rejections = decoded.batch, decoded.rejections
            self.merger.push(side, batch, [_coords(messages[p]) for p in batch.positions])
            rejected += [(messages[r.position], r) for r in rejections]
        return rejected

    def release(self) -> list[tuple[int, EventBatch | LabelBatch]]:
        """Runs in merge order, as far as both topics' state allows."""
        ended = (self.ended(EVENTS), self.ended(LABELS))
        return [(side, batch) for side, batch, _ in self.merger.release(ended)]

    def offsets(self) -> list[TopicPartition]:
        """Where each assigned partition resumes: its first queued record, else past the last
        consumed one."""
        safe = dict(self._next)
        for side in (EVENTS, LABELS):
            for topic, partition, offset in self.merger.tags(side):
                key = (topic, partition)
                safe[key] = min(safe.get(key, offset), offset)
        return [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in sorted(safe.items())
            if partition in self.assigned[self.side(topic)]
        ]

    def throttle(self, consumer: Consumer) -> None:
        """Pause a topic whose queue is too long; resume it once it has drained to half."""
        for side in (EVENTS, LABELS):
            waiting = self.merger.waiting(side)
            parts = [TopicPartition(self.topics[side], p) for p in sorted(self.assigned[side])]
            if side not in self.paused and waiting > self.limit and parts:
                consumer.pause(parts)
                self.paused.add(side)
                log.info(
                    "paused %s: %d records wait for the other topic", self.topics[side], waiting
                )
            elif side in self.paused and waiting <= self.limit // 2:
                if parts:
                    consumer.resume(parts)
                self.paused.discard(side)
