"""The Kafka worker behind ``drift-detector run``: both engine stages around two topics.

Stage one reads the input (events, and labels merged with them by event time, see
:mod:`detector.kafka.joined`), decodes and splits it into per-unit chunks, and produces each
chunk to the repartition partition that owns its unit (:mod:`detector.kafka.internal`). Stage
two reads the repartition partitions assigned to this worker, restores their units from the
changelog on assignment (:mod:`detector.kafka.state_store`), applies the chunks and produces
alerts. So a series sees all its events, in one order, however many workers share the input.

Commits (:mod:`detector.kafka.commits`) snapshot the changed units and commit offsets, either
after a flush (at-least-once) or in one transaction (exactly-once). Alert ids are deterministic
(series, status, series event count), so duplicates can be dropped on (``source``, ``id``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
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
from detector.chunks import Chunk, StreamChunk, chunk_unit
from detector.config import Config
from detector.engine import build_engine
from detector.errors import KafkaBoundaryError, StateError
from detector.events import Decoder, Rejection
from detector.kafka.clients import (
    admin_config,
    consumer_config,
    create_client,
    describe_error,
    list_topics,
    producer_config,
)
from detector.kafka.commits import Committer, TransactionalCommitter
from detector.kafka.dead_letter import dead_letter_headers
from detector.kafka.ends import EndOffsets
from detector.kafka.internal import (
    MAX_RECORD,
    SPLIT_ROWS,
    InternalTopics,
    chunk_records,
    ensure_internal_topics,
    internal_topics,
    read_chunks,
)
from detector.kafka.joined import JoinedInput, check_assignor, check_copartitioned
from detector.kafka.state_store import StateStore
from detector.labels.merge import slice_events
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
    commits: int = 0
    snapshots: int = 0  # unit states written to the changelog
    restored_units: int = 0  # unit states read back on assignment
    restore_seconds: float = 0.0


def _where(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed record (never None for a real record)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise KafkaBoundaryError("consumed a record without topic, partition or offset")
    return topic, partition, offset


class Worker:
    """One consumer-group member running both stages. Clients are created lazily by :meth:`run`.

    Each turn of the loop consumes input records and repartition records together. Input
    records are decoded and split into chunks (stage one), produced to the repartition
    partitions that own their units; repartition records update the units this worker owns
    (stage two) and produce their alerts. Every ``processing.commit_interval`` seconds the
    :class:`~detector.kafka.commits.Committer` snapshots the changed units and commits.
    """

    def __init__(self, config: Config, until_end: bool = False) -> None:
        self.config = config
        self.until_end = until_end
        self.report = WorkerReport()
        self._stop = threading.Event()
        self._decoder = Decoder(config)
        self._engine = build_engine(config)
        self.metrics = WorkerMetrics(config, self._engine)  # for /metrics, health, progress
        self._joined = JoinedInput(config, self._decoder) if config.topics.labels else None
        self._ends = EndOffsets()
        self._assigned: set[int] = set()  # events partitions
        self._owned: set[int] = set()  # repartition partitions (their units live here)
        self._offsets: dict[tuple[str, int], int] = {}  # next offset to commit
        self._stream_seen = time.monotonic()  # last stream chunk: for the silence check
        self._internal: InternalTopics | None = None
        self._store: StateStore | None = None
        self._committer: Committer | None = None

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and close (SIGTERM handler)."""
        self._stop.set()

    def run(self) -> WorkerReport:
        """Consume until stopped (or, with ``until_end``, until the end offsets seen at start)."""
        topics, processing = self.config.topics, self.config.processing
        # Build every client's properties first: a config error must stop us before any I/O.
        consumer_props = {**consumer_config(self.config), "enable.auto.commit": False}
        producer_props = {**producer_config(self.config), "message.max.bytes": MAX_RECORD}
        if processing.guarantee == "exactly_once":
            group = consumer_props["group.id"]
            producer_props.setdefault("transactional.id", f"{group}-{uuid.uuid4().hex[:12]}")
            producer_props.setdefault("transaction.timeout.ms", 10_000)  # as Kafka Streams
        check_assignor(self.config)
        admin = create_client(AdminClient, admin_config(self.config))
        existing = self._check_topics(admin)
        internal = internal_topics(self.config, len(existing[topics.events].partitions))
        ensure_internal_topics(admin, self.config, existing, internal)
        self._internal = internal
        self._store = StateStore(self._engine, internal, consumer_props)
        consumer = create_client(Consumer, consumer_props)
        try:
            producer = create_client(Producer, producer_props)
            committer_type = (
                TransactionalCommitter if processing.guarantee == "exactly_once" else Committer
            )
            self._committer = committer_type(producer, consumer)
        except Exception:
            consumer.close()
            raise
        committer = self._committer
        ok = False
        try:
            if self.until_end:
                self._ends.read_inputs(consumer, self.config)
            subscribed = [topics.events, internal.repartition]
            subscribed += [topics.labels] if topics.labels else []
            consumer.subscribe(
                subscribed,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            self.metrics.started(self._ends.events)
            last_commit = time.monotonic()
            while not self._stop.is_set():
                committer.begin()
                messages = consumer.consume(
                    self.config.run.batch_size, timeout=self.config.run.batch_timeout
                )
                self.metrics.polled(consumer, self._assigned)
                records = [m for m in messages if self._keep(m)]
                chunk_records = [m for m in records if m.topic() == internal.repartition]
                inputs = [m for m in records if m.topic() != internal.repartition]
                if self._joined is not None:
                    self._ingest_joined(inputs, committer.producer, consumer)
                elif inputs:
                    self._ingest(inputs, committer.producer)
                self._detect(chunk_records, committer.producer)
                now = time.monotonic()
                if now - last_commit >= processing.commit_interval:
                    self._commit()
                    last_commit = now
                if self.until_end and self._at_end(consumer):
                    break
            ok = True
        finally:
            self.metrics.stopped()
            try:
                if ok:
                    self._commit()
                else:
                    committer.abandon()
            finally:
                self._summarise()  # before close(): leaving the group drops the units
                consumer.close()
        return self.report

    def _summarise(self) -> None:
        assert self._store is not None
        self.report.series = len(self._engine.series)
        self.report.restored_units = self._store.restored_units
        if self._joined is not None:
            self.report.join = labels_summary(
                self._engine, self.report.labels, self.report.label_dead_letters
            )

    def _check_topics(self, admin: AdminClient) -> dict[str, Any]:
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
        return existing

    # -- rebalancing ---------------------------------------------------------------------------

    def _split_assignment(self, partitions: list[TopicPartition]) -> tuple[list[int], list[int]]:
        """(events partitions, repartition partitions) of a rebalance callback's list."""
        assert self._internal is not None
        if self._joined is not None:
            self._joined.assign(partitions, add=True)  # caller undoes for revocations
        events = [p.partition for p in partitions if p.topic == self.config.topics.events]
        owned = [p.partition for p in partitions if p.topic == self._internal.repartition]
        return events, owned

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._store is not None
        events, owned = self._split_assignment(partitions)
        self._assigned |= set(events)
        self._owned |= set(owned)
        self.metrics.restoring(True)
        try:
            self._store.restore(owned)  # before any record of these partitions is applied
        finally:
            self.metrics.restoring(False)
        self.report.restore_seconds += self._store.restore_seconds if owned else 0.0
        self._stream_seen = time.monotonic()
        self.metrics.assigned(self._assigned)
        log.info("assigned partitions %s, owning units of %s", sorted(self._assigned), owned)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Commit what was done for these partitions, then let their units go."""
        self._commit()
        self._release(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Another member may own these already: never commit for them (uncommitted work is
        redone by the new owner)."""
        assert self._committer is not None
        self._committer.abandon()
        self._release(partitions)

    def _release(self, partitions: list[TopicPartition]) -> None:
        assert self._store is not None
        if self._joined is not None:
            self._joined.assign(partitions, add=False)
        gone = {(p.topic, p.partition) for p in partitions}
        events = {p for t, p in gone if t == self.config.topics.events}
        self._offsets = {tp: o for tp, o in self._offsets.items() if tp not in gone}
        self._assigned -= events
        self._owned -= {p.partition for p in partitions if p.topic == self._repartition}
        self._store.drop(p.partition for p in partitions if p.topic == self._repartition)
        self.metrics.revoked(self._assigned)

    @property
    def _repartition(self) -> str:
        assert self._internal is not None
        return self._internal.repartition

    # -- consuming -----------------------------------------------------------------------------

    def _keep(self, message: Message) -> bool:
        err = message.error()
        if err is None:
            if self._joined is not None and message.topic() != self._repartition:
                self._joined.eof(message.topic() or "", message.partition() or 0, reached=False)
            return True
        if err.code() == KafkaError._PARTITION_EOF:
            topic, partition, offset = _where(message)
            if self._joined is not None and topic != self._repartition:
                self._joined.eof(topic, partition, reached=True)
            self._ends.seen(topic, partition, offset)
            return False
        self.metrics.error("consume", err.name())
        if err.fatal():
            raise KafkaBoundaryError(f"fatal consumer error: {describe_error(err)}")
        log.warning("consumer error: %s", describe_error(err))
        return False

    def _at_end(self, consumer: Consumer) -> bool:
        topics = self.config.topics
        if not self._ends.done(topics.events, self._assigned) or not self._assigned:
            return False
        if self._joined is not None:
            labels = self._joined.assigned[1]
            if self._joined.queued() or not self._ends.done(topics.labels or "", labels):
                return False
        if not self._ends.known(self._repartition):
            self._commit()  # every chunk of the input acknowledged: now the ends are final
            self._ends.read(consumer, self._repartition, sorted(self._owned))
        slack = 1 if self.config.processing.guarantee == "exactly_once" else 0
        return self._ends.done(self._repartition, self._owned, slack)

    # -- stage one: input records to chunks ----------------------------------------------------

    def _ingest(self, records: list[Message], producer: Producer) -> None:
        started = time.perf_counter()
        values = [m.value() for m in records]
        times = [m.timestamp()[1] / 1000.0 for m in records]
        result = self._decoder.decode(values, times)
        size = result.batch.size
        for start in range(0, size, SPLIT_ROWS):
            part = slice_events(result.batch, start, min(start + SPLIT_ROWS, size))
            self._produce_chunks(self._engine.split(part), producer)
        for rejection in result.rejections:
            self._dead_letter(records[rejection.position], rejection, producer)
            self.report.dead_letters[rejection.reason] += 1
        offsets = _next_offsets(records)
        self._advance(offsets)
        for tp in offsets:
            self._ends.seen(tp.topic, tp.partition, tp.offset)
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

    def _ingest_joined(
        self, records: list[Message], producer: Producer, consumer: Consumer
    ) -> None:
        """Both topics: decode and queue, then split what the merge releases."""
        joined = self._joined
        assert joined is not None
        started = time.perf_counter()
        rejected = joined.add(records)
        runs = joined.release()
        joined.throttle(consumer)
        if not records and not runs:
            return
        if runs:
            self._produce_chunks(self._engine.split_runs(runs), producer)
        labels_topic = self.config.topics.labels
        for record, rejection in rejected:
            self._dead_letter(record, rejection, producer)
            if record.topic() == labels_topic:
                self.report.label_dead_letters[rejection.reason] += 1
            else:
                self.report.dead_letters[rejection.reason] += 1
        offsets = joined.offsets()
        self._advance(offsets)
        events = [r for r in records if r.topic() != labels_topic]
        self.report.records += len(events)
        self.report.labels += len(records) - len(events)
        self.report.batches += 1
        for record in records:
            topic, partition, offset = _where(record)
            self._ends.seen(topic, partition, offset + 1)
        times = [float(b.times.max()) for side, b in runs if side == 0 and b.size]
        self.metrics.batch(
            len(events),
            [tp for tp in offsets if tp.topic == self.config.topics.events],
            [],
            [r.reason for m, r in rejected if m.topic() != labels_topic],
            max(times) if times else None,
            time.perf_counter() - started,
        )

    def _produce_chunks(self, chunks: list[Chunk], producer: Producer) -> None:
        assert self._internal is not None and self._committer is not None
        for partition, value in chunk_records(chunks, self._internal.partitions).items():
            producer.produce(
                self._internal.repartition,
                value=value,
                partition=partition,
                on_delivery=self._committer.on_delivery,
            )
            producer.poll(0)

    def _dead_letter(self, record: Message, rejection: Any, producer: Producer) -> None:
        assert self._committer is not None
        producer.produce(
            self.config.topics.dead_letter,
            key=record.key(),
            value=record.value(),
            timestamp=record.timestamp()[1],
            headers=dead_letter_headers(*_where(record), rejection),
            on_delivery=self._committer.on_delivery,
        )

    # -- stage two: chunks to the units this worker owns ---------------------------------------

    def _detect(self, records: list[Message], producer: Producer) -> None:
        assert self._store is not None
        alerts: list[AlertEvent] = []
        stream_seen = False
        for record in records:
            _, partition, offset = _where(record)
            try:
                chunks = read_chunks(record.value())
            except StateError as exc:
                rejection = Rejection(0, "bad_chunk", str(exc))
                self._dead_letter(record, rejection, producer)
                self.report.dead_letters["bad_chunk"] += 1
                chunks = []
            fresh = [c for c in chunks if self._store.fresh(chunk_unit(c), offset)]
            stream_seen = stream_seen or any(isinstance(c, StreamChunk) for c in fresh)
            alerts += self._engine.apply(fresh)
        self._advance(_next_offsets(records))
        for record in records:
            topic, partition, offset = _where(record)
            self._ends.seen(topic, partition, offset + 1)
        if stream_seen:
            self._stream_seen = time.monotonic()
        elif self._engine.stream is not None:
            alerts += self._engine.idle(time.monotonic() - self._stream_seen)
        self._produce_alerts(alerts, producer)
        self.report.alerts += len(alerts)
        if alerts:
            self.metrics.alerts([(a.data.kind, a.data.severity, a.data.status) for a in alerts])

    def _produce_alerts(self, alerts: list[AlertEvent], producer: Producer) -> None:
        assert self._committer is not None
        for alert in alerts:
            producer.produce(
                self.config.topics.alerts,
                key=alert.data.dedup_key.encode(),
                value=alert_bytes(alert),
                headers=[("content-type", CONTENT_TYPE.encode())],
                on_delivery=self._committer.on_delivery,
            )

    # -- committing ----------------------------------------------------------------------------

    def _advance(self, offsets: list[TopicPartition]) -> None:
        for tp in offsets:
            self._offsets[(tp.topic, tp.partition)] = tp.offset

    def _commit(self) -> None:
        """Snapshot changed units, then commit offsets (atomically, exactly-once)."""
        assert self._store is not None and self._committer is not None
        positions = {p: o for (t, p), o in self._offsets.items() if t == self._repartition}
        self._committer.begin()
        self.report.snapshots += self._store.snapshot(
            self._committer.producer, positions, self._committer.on_delivery
        )
        offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(self._offsets.items())]
        self._committer.commit(offsets)
        self.report.commits += 1


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
        "commits": report.commits,
        "state": {
            "snapshots": report.snapshots,
            "restored_units": report.restored_units,
            "restore_seconds": round(report.restore_seconds, 3),
        },
        **({"labels": report.join} if report.join else {}),
    }
