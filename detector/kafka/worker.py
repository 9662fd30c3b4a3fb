"""The Kafka worker behind ``drift-detector run``: both engine stages around two topics.

Stage one reads the input (events, and labels merged with them by event time, see
:mod:`detector.kafka.joined`), decodes and splits it into per-unit chunks, and produces each
chunk to the repartition partition that owns its unit (:mod:`detector.kafka.internal`). Stage
two reads the repartition partitions assigned to this worker, restores their units from the
changelog on assignment (:mod:`detector.kafka.state_store`), applies the chunks and produces
alerts. So a series sees all its events, in one order, however many workers share the input.

Commits (:mod:`detector.kafka.progress`, :mod:`detector.kafka.commits`) snapshot the changed
units and commit offsets, either after a flush (at-least-once) or in one transaction
(exactly-once). Alert ids are deterministic
(series, status, series event count), so duplicates can be dropped on (``source``, ``id``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from confluent_kafka import (
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from detector._native import sort_records
from detector.config import Config
from detector.engine import build_engine
from detector.errors import KafkaBoundaryError
from detector.events import Decoder
from detector.kafka.clients import (
    admin_config,
    consumer_config,
    create_client,
    describe_error,
    producer_config,
)
from detector.kafka.commits import Committer, TransactionalCommitter
from detector.kafka.detect import StageTwo
from detector.kafka.ends import EndOffsets
from detector.kafka.ingest import Ingest
from detector.kafka.internal import (
    MAX_RECORD,
    InternalTopics,
    check_topics,
    ensure_internal_topics,
    internal_topics,
)
from detector.kafka.joined import JoinedInput, check_assignor
from detector.kafka.positions import assign_repartition_from_start
from detector.kafka.progress import Progress
from detector.kafka.report import WorkerReport, where
from detector.kafka.state_store import StateStore
from detector.labels.summary import labels_summary
from detector.observability.metrics import WorkerMetrics

log = logging.getLogger("detector.worker")
_CHUNK_WAIT = 0.02  # seconds to wait for our own chunks after producing them
FETCH_DEFAULTS = {  # consumer defaults for throughput; the kafka section overrides them
    # Repartition records are megabytes: a smaller limit fetches one record per round trip.
    "max.partition.fetch.bytes": MAX_RECORD,
    # librdkafka waits this long to fetch again once its queue was full (default 1 s): a
    # worker draining a backlog would stall on every refill.
    "fetch.queue.backoff.ms": 10,
}


class Worker:
    """One consumer-group member running both stages. Clients are created lazily by :meth:`run`.

    Each turn of the loop consumes input records and repartition records together. Input
    records are decoded and split into chunks (stage one), produced to the repartition
    partitions that own their units; repartition records update the units this worker owns
    (stage two) and produce their alerts. Every ``processing.commit_interval`` seconds
    :class:`~detector.kafka.progress.Progress` snapshots the changed units and commits.
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
        self._internal: InternalTopics | None = None
        self._store: StateStore | None = None
        self._committer: Committer | None = None
        self._progress: Progress | None = None  # offsets to commit; commits and rewinds
        self._failed = False  # the loop stopped on an error: commit nothing more
        self._stage_two: StageTwo | None = None

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and close (SIGTERM handler)."""
        self._stop.set()

    def run(self) -> WorkerReport:
        """Consume until stopped (or, with ``until_end``, until the end offsets seen at start)."""
        topics, processing = self.config.topics, self.config.processing
        # Build every client's properties first: a config error must stop us before any I/O.
        consumer_props = {**FETCH_DEFAULTS, **consumer_config(self.config)}
        producer_props = {**producer_config(self.config), "message.max.bytes": MAX_RECORD}
        if processing.guarantee == "exactly_once":
            group = consumer_props["group.id"]
            producer_props.setdefault("transactional.id", f"{group}-{uuid.uuid4().hex[:12]}")
            producer_props.setdefault("transaction.timeout.ms", 10_000)  # as Kafka Streams
        check_assignor(self.config)
        admin = create_client(AdminClient, admin_config(self.config))
        existing = check_topics(admin, self.config)
        internal = internal_topics(self.config, len(existing[topics.events].partitions))
        ensure_internal_topics(admin, self.config, existing, internal)
        self._internal = internal
        self._store = StateStore(self._engine, internal, consumer_props)
        consumer = create_client(Consumer, consumer_props)
        try:
            if processing.guarantee == "exactly_once":
                self._committer = TransactionalCommitter(producer_props, consumer, admin)
            else:
                self._committer = Committer(create_client(Producer, producer_props), consumer)
        except Exception:
            consumer.close()
            raise
        committer = self._committer
        progress = self._progress = Progress(
            self.config, internal.repartition, self._store, committer, self._ends, self.report
        )
        self._ingest = Ingest(
            self.config,
            self._engine,
            self._decoder,
            self._joined,
            internal,
            committer.on_delivery,
            self.report,
            self.metrics,
            self._ends,
        )
        stage_two = self._stage_two = StageTwo(
            self.config,
            self._engine,
            self._store,
            internal.partitions,
            self._ingest,
            self.report,
            self.metrics,
            self._ends,
            committer.on_delivery,
        )
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
            timeout = self.config.run.batch_timeout
            while not self._stop.is_set():
                if progress.rewind_due:
                    self._rewind(consumer)
                produced = self._ingest.records_produced
                messages = consumer.consume(self.config.run.batch_size, timeout=timeout)
                committer.begin()  # after consume: a revocation inside it commits the last one
                self.metrics.polled(consumer, self._assigned)
                # Stage two starts on the repartition records first: stage one runs on the
                # input records while the series update (detector.kafka.detect).
                if self._joined is not None:
                    records = [m for m in messages if self._keep(m)]
                    inputs = [m for m in records if m.topic() != internal.repartition]
                    internal_records = [m for m in records if m.topic() == internal.repartition]
                    pending = stage_two.start(internal_records, committer.producer)
                    progress.advance(
                        self._ingest.ingest_joined(inputs, committer.producer, consumer)
                    )
                else:
                    batch = sort_records(messages, internal.repartition)
                    for message in batch.errors:
                        self._keep(message)
                    pending = stage_two.start(batch.internal, committer.producer)
                    if batch.inputs:
                        progress.advance(self._ingest.ingest(batch, committer.producer))
                stage_two.finish(pending, progress, committer.producer)
                # Chunks just produced come back within milliseconds: poll again at once
                # rather than waiting a whole batch_timeout (it would add to alert latency).
                fed = self._ingest.records_produced > produced
                timeout = _CHUNK_WAIT if fed else self.config.run.batch_timeout
                now = time.monotonic()
                if now - last_commit >= processing.commit_seconds:
                    progress.commit()
                    last_commit = now
                if self.until_end and self._at_end(consumer):
                    break
            ok = True
        finally:
            self.metrics.stopped()
            self._failed = not ok  # leaving the group must not commit past a failure
            stage_two.close()  # an update still running (the loop raised) ends before state is read
            try:
                if ok:
                    progress.commit()
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
        self.report.discarded_units = self._store.discarded
        if self._joined is not None:
            self.report.join = labels_summary(
                self._engine, self.report.labels, self.report.label_dead_letters
            )

    # -- rebalancing ---------------------------------------------------------------------------

    def _split_assignment(self, partitions: list[TopicPartition]) -> tuple[list[int], list[int]]:
        """(events partitions, repartition partitions) of a new assignment."""
        assert self._internal is not None
        if self._joined is not None:
            self._joined.assign(partitions, add=True)
        events = [p.partition for p in partitions if p.topic == self.config.topics.events]
        owned = [p.partition for p in partitions if p.topic == self._internal.repartition]
        return events, owned

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._store is not None
        assign_repartition_from_start(consumer, self.config, self._repartition, partitions)
        events, owned = self._split_assignment(partitions)
        self._assigned |= set(events)
        self._owned |= set(owned)
        self.metrics.restoring(True)
        try:
            self._store.restore(owned)  # before any record of these partitions is applied
        finally:
            self.metrics.restoring(False)
        self.report.restore_seconds += self._store.restore_seconds if owned else 0.0
        if self._stage_two is not None:
            self._stage_two.stream_seen = time.monotonic()
        self.metrics.assigned(self._assigned)
        log.info("assigned partitions %s, owning units of %s", sorted(self._assigned), owned)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Commit what was done for these partitions, then let their units go."""
        assert self._progress is not None
        if not self._failed:
            self._progress.commit()
        self._release(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Another member may own these already: never commit for them (uncommitted work is
        redone by the new owner). Exactly-once, the aborted transaction also held work for the
        partitions we keep, so those rewind too."""
        assert self._committer is not None and self._progress is not None
        self._committer.abandon()
        self._release(partitions)
        self._progress.rewind_due |= self._committer.exactly_once

    def _release(self, partitions: list[TopicPartition]) -> None:
        assert self._store is not None and self._progress is not None
        if self._joined is not None:
            self._joined.assign(partitions, add=False)
        gone = {(p.topic, p.partition) for p in partitions}
        events = {p for t, p in gone if t == self.config.topics.events}
        self._progress.forget(gone)
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
            topic, partition, offset = where(message)
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
            assert self._progress is not None
            if not self._progress.commit():  # every chunk of the input committed: final ends
                return False
            self._ends.read(consumer, self._repartition, sorted(self._owned))
        slack = 1 if self.config.processing.guarantee == "exactly_once" else 0
        return self._ends.done(self._repartition, self._owned, slack)

    # -- rewinding ------------------------------------------------------------------------------

    def _rewind(self, consumer: Consumer) -> None:
        """After an aborted transaction: consumption and unit state back to the last commit."""
        assert self._progress is not None
        self._progress.rewind(consumer, self._owned)
        if self._joined is not None:  # its queues hold records consumed after the commit
            self._joined = JoinedInput(self.config, self._decoder)
            self._joined.assign(consumer.assignment(), add=True)
            self._ingest.joined = self._joined
