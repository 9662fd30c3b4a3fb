"""Stage one of the worker: input records in, slices on the repartition topic out.

Events are decoded and validated (rejections go to the dead-letter topic with the reason in
headers), cut into slices of at most ``SPLIT_ROWS`` events to bound record sizes, and each slice
goes to every repartition partition that owns one of its units, with the columns those units
need (:mod:`detector.split`). With ``topics.labels`` the records of both topics are merged by
event time first (:mod:`detector.kafka.joined`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from detector._native import SortedRecords
from detector.chunks import Slice
from detector.config import Config
from detector.engine import Engine
from detector.events import Decoder, EventBatch, Rejection
from detector.kafka.dead_letter import dead_letter_headers
from detector.kafka.ends import EndOffsets
from detector.kafka.internal import SPLIT_ROWS, InternalTopics, slice_records
from detector.kafka.joined import JoinedInput
from detector.kafka.report import WorkerReport, where
from detector.labels.decode import LabelBatch
from detector.labels.merge import slice_events, slice_labels
from detector.observability.metrics import WorkerMetrics


class Ingest:
    """Decodes, splits and routes a worker's input records."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        decoder: Decoder,
        joined: JoinedInput | None,
        internal: InternalTopics,
        on_delivery: Callable[..., Any],
        report: WorkerReport,
        metrics: WorkerMetrics,
        ends: EndOffsets,
    ) -> None:
        self.config = config
        self.engine = engine
        self.decoder = decoder
        self.joined = joined
        self.internal = internal
        self.on_delivery = on_delivery
        self.report = report
        self.metrics = metrics
        self.ends = ends
        self.records_produced = 0  # repartition records

    def ingest(self, batch: SortedRecords, producer: Producer) -> list[TopicPartition]:
        """Events only (sorted by :func:`detector._native.sort_records`): decode, split,
        produce; returns the offsets now safe to commit."""
        started = time.perf_counter()
        records = batch.inputs
        result = self.decoder.decode(batch.values, batch.times)
        size = result.batch.size
        for start in range(0, size, SPLIT_ROWS):
            part = slice_events(result.batch, start, min(start + SPLIT_ROWS, size))
            self._produce_slice(self.engine.slice(part), producer)
        for rejection in result.rejections:
            self.dead_letter(records[rejection.position], rejection, producer)
            self.report.dead_letters[rejection.reason] += 1
        offsets = [TopicPartition(t, p, o) for t, p, o in batch.next_offsets]
        for tp in offsets:
            self.ends.seen(tp.topic, tp.partition, tp.offset)
        self.report.records += len(records)
        self.report.batches += 1
        event_times = result.batch.times
        self.metrics.batch(
            len(records),
            offsets,
            [],
            [r.reason for r in result.rejections],
            float(event_times.max()) if len(event_times) else None,
            time.perf_counter() - started,
        )
        return offsets

    def ingest_joined(
        self, records: list[Message], producer: Producer, consumer: Consumer
    ) -> list[TopicPartition]:
        """Both topics: decode and queue, then split what the merge releases."""
        joined = self.joined
        assert joined is not None
        started = time.perf_counter()
        rejected = joined.add(records)
        runs = joined.release()
        joined.throttle(consumer)
        if not records and not runs:
            return []
        for part in slice_runs(runs, SPLIT_ROWS):
            self._produce_slice(self.engine.slice_runs(part), producer)
        labels_topic = self.config.topics.labels
        for record, rejection in rejected:
            self.dead_letter(record, rejection, producer)
            if record.topic() == labels_topic:
                self.report.label_dead_letters[rejection.reason] += 1
            else:
                self.report.dead_letters[rejection.reason] += 1
        offsets = joined.offsets()
        events = [r for r in records if r.topic() != labels_topic]
        self.report.records += len(events)
        self.report.labels += len(records) - len(events)
        self.report.batches += 1
        for record in records:
            topic, partition, offset = where(record)
            self.ends.seen(topic, partition, offset + 1)
        times = [float(b.times.max()) for side, b in runs if side == 0 and b.size]
        self.metrics.batch(
            len(events),
            [tp for tp in offsets if tp.topic == self.config.topics.events],
            [],
            [r.reason for m, r in rejected if m.topic() != labels_topic],
            max(times) if times else None,
            time.perf_counter() - started,
        )
        return offsets

    def _produce_slice(self, whole: Slice, producer: Producer) -> None:
        shares = slice_records(self.config, whole, self.internal.partitions)
        for partition, value in shares.items():
            producer.produce(
                self.internal.repartition,
                value=value,
                partition=partition,
                on_delivery=self.on_delivery,
            )
            producer.poll(0)
            self.records_produced += 1

    def dead_letter(self, record: Message, rejection: Rejection, producer: Producer) -> None:
        producer.produce(
            self.config.topics.dead_letter,
            key=record.key(),
            value=record.value(),
            timestamp=record.timestamp()[1],
            headers=dead_letter_headers(*where(record), rejection),
            on_delivery=self.on_delivery,
        )


Run = tuple[int, EventBatch | LabelBatch]


def slice_runs(runs: list[Run], rows: int) -> list[list[Run]]:
    """Consecutive groups of merged runs with at most ``rows`` rows each (a long run is cut):
    splitting them one group after another gives the chunks of splitting them all at once."""
    groups: list[list[Run]] = [[]]
    room = rows
    for side, batch in runs:
        start = 0
        while start < batch.size:
            if room == 0:
                groups.append([])
                room = rows
            stop = min(batch.size, start + room)
            cut = (
                slice_events(batch, start, stop)
                if isinstance(batch, EventBatch)
                else slice_labels(batch, start, stop)
            )
            groups[-1].append((side, cut))
            room -= stop - start
            start = stop
    return [g for g in groups if g]
