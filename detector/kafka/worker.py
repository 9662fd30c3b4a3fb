"""The Kafka worker behind ``drift-detector run``: consume, detect, produce, then store offsets.

At-least-once: a micro-batch's offsets are stored only after every alert and dead letter it
produced has been acknowledged by the broker (``flush``); librdkafka's auto-commit then commits
stored offsets, and ``close()`` commits the last ones. A crash in between replays the batch, and
alert ids are deterministic, so consumers can drop the duplicates on (``source``, ``id``).

With ``topics.labels`` the worker consumes both topics and merges them by event time
(:mod:`detector.kafka.joined`) before the engine sees them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from detector.alerts import CONTENT_TYPE, AlertEvent, alert_bytes
from detector.config import Config
from detector.engine import build_engine
from detector.errors import DeliveryError, KafkaBoundaryError
from detector.events import Decoder
from detector.kafka.clients import (
    admin_config,
    consumer_config,
    create_client,
    describe_error,
    list_topics,
    producer_config,
)
from detector.kafka.dead_letter import dead_letter_headers
from detector.kafka.joined import JoinedInput, check_assignor, check_copartitioned
from detector.labels.summary import labels_summary
from detector.observability.metrics import WorkerMetrics

log = logging.getLogger("detector.worker")
_METADATA_TIMEOUT = 30.0


@dataclass
class WorkerReport:
    """Totals of one ``run``, printed on exit."""

    records: int = 0
    alerts: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    series: int = 0
    labels: int = 0  # label records consumed (topics.labels)
    label_dead_letters: Counter[str] = field(default_factory=Counter)
    join: dict[str, Any] = field(default_factory=dict)  # the labels summary block


def _where(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed record (never None for a real record)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise KafkaBoundaryError("consumed a record without topic, partition or offset")
    return topic, partition, offset


class Worker:
    """One consumer-group member. Clients are created lazily by :meth:`run`."""

    def __init__(self, config: Config, until_end: bool = False) -> None:
        self.config = config
        self.until_end = until_end
        self.report = WorkerReport()
        self._stop = threading.Event()
        self._decoder = Decoder(config)
        self._engine = build_engine(config)
        self._failures: list[str] = []
        self._ends: dict[int, int] = {}
        self._reached: set[int] = set()
        self._assigned: set[int] = set()
        self.metrics = WorkerMetrics(config, self._engine)  # for /metrics, health, progress
        self._joined = JoinedInput(config, self._decoder) if config.topics.labels else None
        self._label_ends: dict[int, int] = {}
        self._label_reached: set[int] = set()

    def stop(self) -> None:
        """Ask the loop to finish its batch, flush, commit and close (SIGTERM handler)."""
        self._stop.set()

    def run(self) -> WorkerReport:
        """Consume until stopped (or, with ``until_end``, until the end offsets seen at start)."""
        topics = self.config.topics
        # Build every client's properties first: a config error must stop us before any I/O.
        consumer_props = consumer_config(self.config)
        producer_props = producer_config(self.config)
        check_assignor(self.config)
        admin = create_client(AdminClient, admin_config(self.config))
        self._check_topics(admin)
        consumer = create_client(Consumer, consumer_props)
        try:
            producer = create_client(Producer, producer_props)
        except Exception:
            consumer.close()
            raise
        try:
            if self.until_end:
                self._ends = self._end_offsets(consumer)
                if topics.labels is not None:
                    self._label_ends = self._end_offsets(consumer, topics.labels)
            subscribed = [topics.events] + ([topics.labels] if topics.labels else [])
            consumer.subscribe(subscribed, on_assign=self._on_assign, on_revoke=self._on_revoke)
            self.metrics.started(self._ends)
            quiet_since = time.monotonic()  # for the stream-silence check (wall clock)
            while not self._stop.is_set():
                messages = consumer.consume(
                    self.config.run.batch_size, timeout=self.config.run.batch_timeout
                )
                self.metrics.polled(consumer, self._assigned)
                records = [m for m in messages if self._keep(m)]
                if self._joined is not None:
                    self._process_joined(records, producer, consumer)
                    if records:
                        quiet_since = time.monotonic()
                    else:
                        self._publish(self._engine.idle(time.monotonic() - quiet_since), producer)
                elif records:
                    self._process(records, producer, consumer)
                    quiet_since = time.monotonic()
                else:
                    self._publish(self._engine.idle(time.monotonic() - quiet_since), producer)
                if self.until_end and self._at_end():
                    break
        finally:
            self.metrics.stopped()
            try:
                self._flush(producer)
            finally:
                consumer.close()
        self.report.series = len(self._engine.series)
        if self._joined is not None:
            self.report.join = labels_summary(
                self._engine, self.report.labels, self.report.label_dead_letters
            )
        return self.report

    def _check_topics(self, admin: AdminClient) -> None:
        topics = self.config.topics
        existing = list_topics(admin, self.config.kafka, _METADATA_TIMEOUT)
        if topics.events not in existing:
            raise KafkaBoundaryError(f"topics.events: topic {topics.events!r} does not exist")
        check_copartitioned(self.config, existing)
        missing = [t for t in (topics.alerts, topics.dead_letter) if t not in existing]
        if missing and topics.create_missing:
            futures = admin.create_topics([NewTopic(t) for t in missing])
            for name, future in futures.items():
                try:
                    future.result()
                except KafkaException as exc:
                    if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        raise KafkaBoundaryError(f"cannot create topic {name!r}: {exc}") from exc
            log.info("created topics %s", missing)

    def _end_offsets(self, consumer: Consumer, topic: str | None = None) -> dict[int, int]:
        topic = topic or self.config.topics.events
        ends = {}
        try:
            meta = consumer.list_topics(topic, timeout=_METADATA_TIMEOUT).topics[topic]
            for partition in meta.partitions:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=_METADATA_TIMEOUT
                )
                ends[partition] = high
        except KafkaException as exc:
            raise KafkaBoundaryError(
                f"cannot read end offsets of {topic!r}: {describe_error(exc.args[0])}"
            ) from exc
        log.info("will stop at end offsets %s", ends)
        return ends

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._joined is not None:
            self._joined.assign(partitions, add=True)
            partitions = [p for p in partitions if p.topic == self.config.topics.events]
        self._assigned |= {p.partition for p in partitions}
        self.metrics.assigned(self._assigned)
        log.info("assigned partitions %s", sorted(self._assigned))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._joined is not None:
            self._joined.assign(partitions, add=False)
            partitions = [p for p in partitions if p.topic == self.config.topics.events]
        self._assigned -= {p.partition for p in partitions}
        self.metrics.revoked(self._assigned)

    def _keep(self, message: Message) -> bool:
        err = message.error()
        if err is None:
            if self._joined is not None:  # in consumption order, before any later EOF
                self._joined.eof(message.topic() or "", message.partition() or 0, reached=False)
            return True
        if err.code() == KafkaError._PARTITION_EOF:
            topic, partition, offset = _where(message)
            if self._joined is not None:
                self._joined.eof(topic, partition, reached=True)
                if topic == self.config.topics.labels:
                    if offset >= self._label_ends.get(partition, 0):
                        self._label_reached.add(partition)
                    return False
            if offset >= self._ends.get(partition, 0):
                self._reached.add(partition)
            return False
        self.metrics.error("consume", err.name())
        if err.fatal():
            raise KafkaBoundaryError(f"fatal consumer error: {describe_error(err)}")
        log.warning("consumer error: %s", describe_error(err))
        return False

    def _at_end(self) -> bool:
        if self._joined is not None:
            labels = self._joined.assigned[1]
            if self._joined.queued() or not labels <= self._label_reached:
                return False
        return bool(self._assigned) and self._assigned <= self._reached

    def _process_joined(
        self, records: list[Message], producer: Producer, consumer: Consumer
    ) -> None:
        """Both topics: decode and queue, then process what the merge releases."""
        joined = self._joined
        assert joined is not None
        started = time.perf_counter()
        rejected = joined.add(records)
        runs = joined.release()
        joined.throttle(consumer)
        if not records and not runs:
            return
        alerts = self._engine.process_runs(runs) if runs else []
        self._produce_alerts(alerts, producer)
        labels_topic = self.config.topics.labels
        for record, rejection in rejected:
            topic = record.topic()
            producer.produce(
                self.config.topics.dead_letter,
                key=record.key(),
                value=record.value(),
                timestamp=record.timestamp()[1],
                headers=dead_letter_headers(*_where(record), rejection),
                on_delivery=self._on_delivery,
            )
            if topic == labels_topic:
                self.report.label_dead_letters[rejection.reason] += 1
            else:
                self.report.dead_letters[rejection.reason] += 1
        self._flush(producer)
        offsets = joined.offsets()
        if offsets:
            consumer.store_offsets(offsets=offsets)
        events = [r for r in records if r.topic() != labels_topic]
        self.report.records += len(events)
        self.report.labels += len(records) - len(events)
        self.report.alerts += len(alerts)
        self.report.batches += 1
        for record in records:
            topic, partition, offset = _where(record)
            ends, reached = (
                (self._label_ends, self._label_reached)
                if topic == labels_topic
                else (self._ends, self._reached)
            )
            if offset + 1 >= ends.get(partition, 0):
                reached.add(partition)
        times = [float(b.times.max()) for side, b in runs if side == 0 and b.size]
        self.metrics.batch(
            len(events),
            [tp for tp in offsets if tp.topic == self.config.topics.events],
            [(a.data.kind, a.data.severity, a.data.status) for a in alerts],
            [r.reason for m, r in rejected if m.topic() != labels_topic],
            max(times) if times else None,
            time.perf_counter() - started,
        )

    def _process(self, records: list[Message], producer: Producer, consumer: Consumer) -> None:
        started = time.perf_counter()
        values = [m.value() for m in records]
        times = [m.timestamp()[1] / 1000.0 for m in records]
        result = self._decoder.decode(values, times)
        alerts = self._engine.process(result.batch)
        topics = self.config.topics
        self._produce_alerts(alerts, producer)
        for rejection in result.rejections:
            record = records[rejection.position]
            producer.produce(
                topics.dead_letter,
                key=record.key(),
                value=record.value(),
                timestamp=record.timestamp()[1],
                headers=dead_letter_headers(*_where(record), rejection),
                on_delivery=self._on_delivery,
            )
            self.report.dead_letters[rejection.reason] += 1
        self._flush(producer)
        offsets = self._next_offsets(records)
        consumer.store_offsets(offsets=offsets)
        self.report.records += len(records)
        self.report.alerts += len(alerts)
        self.report.batches += 1
        for record in records:
            _, partition, offset = _where(record)
            if offset + 1 >= self._ends.get(partition, 0):
                self._reached.add(partition)
        event_times = result.batch.times
        self.metrics.batch(
            len(records),
            offsets,
            [(a.data.kind, a.data.severity, a.data.status) for a in alerts],
            [r.reason for r in result.rejections],
            float(event_times.max()) if len(event_times) else None,
            time.perf_counter() - started,
        )

    def _produce_alerts(self, alerts: list[AlertEvent], producer: Producer) -> None:
        for alert in alerts:
            producer.produce(
                self.config.topics.alerts,
                key=alert.data.dedup_key.encode(),
                value=alert_bytes(alert),
                headers=[("content-type", CONTENT_TYPE.encode())],
                on_delivery=self._on_delivery,
            )

    def _publish(self, alerts: list[AlertEvent], producer: Producer) -> None:
        """Alerts raised outside a batch (stream silence): produced and flushed at once."""
        if alerts:
            self._produce_alerts(alerts, producer)
            self._flush(producer)
            self.report.alerts += len(alerts)

    def _on_delivery(self, err: KafkaError | None, message: Message) -> None:
        if err is not None:
            self.metrics.error("produce", err.name())
            self._failures.append(f"{message.topic()}: {describe_error(err)}")

    def _flush(self, producer: Producer) -> None:
        remaining = producer.flush(60.0)
        if remaining or self._failures:
            failures, self._failures = self._failures, []
            raise DeliveryError(
                f"{remaining} record(s) unacknowledged, failures: {failures[:5]}; "
                "offsets were not stored, the batch will be consumed again"
            )

    @staticmethod
    def _next_offsets(records: list[Message]) -> list[TopicPartition]:
        last: dict[tuple[str, int], int] = {}
        for record in records:
            topic, partition, offset = _where(record)
            last[(topic, partition)] = max(last.get((topic, partition), -1), offset)
        return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def summary_line(report: WorkerReport) -> dict[str, Any]:
    """The end-of-run summary as a JSON-able dict."""
    return {
        "records": report.records,
        "alerts": report.alerts,
        "dead_letters": dict(report.dead_letters),
        "batches": report.batches,
        "series": report.series,
        **({"labels": report.join} if report.join else {}),
    }
