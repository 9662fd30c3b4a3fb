"""The Kafka worker behind ``drift-detector run``: both engine stages around two topics.

Stage one (:mod:`detector.kafka.input_stage`) reads the input (events, and labels), decodes,
keys and splits it, and produces each unit's share to the repartition partition that owns the
unit (:mod:`detector.kafka.internal`). Stage two (:mod:`detector.kafka.unit_stage`) reads the
repartition partitions assigned to this worker, restores their units from the changelog on
assignment (:mod:`detector.kafka.state_store`), merges what the stage-one workers sent into key
order (:mod:`detector.order`), applies it and produces alerts. So a series sees all its events,
in one order, however many partitions the input has and however many workers share it, and
after any restart or rebalance.

Commits (:mod:`detector.kafka.progress`, :mod:`detector.kafka.commits`) snapshot the changed
units and commit offsets, either after a flush (at-least-once) or in one transaction
(exactly-once). Alert ids are deterministic (series, status, series event count), so duplicates
can be dropped on (``source``, ``id``). The worker stops for configuration errors or when told
to; a lost group membership, a broker outage or a bad record is survived.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from confluent_kafka import KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from detector._native import sort_records
from detector.config import Config
from detector.engine import build_engine
from detector.errors import KafkaBoundaryError
from detector.kafka.clients import (
    admin_config,
    consumer_config,
    create_client,
    describe_error,
    producer_config,
)
from detector.kafka.commits import Committer, TransactionalCommitter
from detector.kafka.consumer import Coords, GroupConsumer
from detector.kafka.context import WorkerContext
from detector.kafka.dead_letter import dead_letter_limit
from detector.kafka.ends import EndOffsets
from detector.kafka.input_stage import InputStage
from detector.kafka.internal import (
    MAX_RECORD,
    check_topics,
    ensure_internal_topics,
    internal_topics,
)
from detector.kafka.progress import Progress
from detector.kafka.report import WorkerReport, where
from detector.kafka.state_store import StateStore
from detector.kafka.unit_stage import UnitStage
from detector.labels.summary import labels_summary
from detector.observability.metrics import WorkerMetrics

log = logging.getLogger("detector.worker")
_CHUNK_WAIT = 0.02  # seconds to wait for our own chunks after producing them
_BATCH_BYTES = 1_000_000  # librdkafka's batch.size: one request's records per partition
FETCH_DEFAULTS = {  # consumer defaults for throughput; the kafka section overrides them
    # Repartition records are megabytes: a smaller limit fetches one record per round trip.
    "max.partition.fetch.bytes": MAX_RECORD,
    # librdkafka waits this long to fetch again once its queue was full (default 1 s): a
    # worker draining a backlog would stall on every refill.
    "fetch.queue.backoff.ms": 10,
}
HELD_BATCHES = 2  # rows stage one may hold for a partition, in batches, before pausing it


class Worker:
    """One consumer-group member running both stages. Clients are created by :meth:`run`.

    Each turn of the loop consumes input records and repartition records together. Repartition
    records go into the merges of stage two, which start applying what they release; input
    records are decoded and forwarded by stage one meanwhile. Every
    ``processing.commit_interval`` seconds :class:`~detector.kafka.progress.Progress`
    snapshots the changed units and commits.
    """

    def __init__(self, config: Config, until_end: bool = False) -> None:
        config.kafka_topics  # noqa: B018 - run needs the topics: say so at start, naming them
        self.config = config
        self.until_end = until_end
        self.report = WorkerReport()
        self._stop = threading.Event()
        self._engine = build_engine(config)
        self.metrics = WorkerMetrics(config, self._engine)  # for /metrics, health, progress
        self._ends = EndOffsets()
        self._failed = False  # the loop stopped on an error: commit nothing more
        self._ctx: WorkerContext | None = None
        self._consumer: GroupConsumer | None = None
        self._store: StateStore | None = None
        self._inputs: InputStage | None = None
        self._units: UnitStage | None = None
        self._progress: Progress | None = None

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and close (SIGTERM handler)."""
        self._stop.set()

    # -- set-up --------------------------------------------------------------------------------

    def _connect(self) -> None:
        """Clients, topics and both stages; every config error surfaces before any I/O."""
        config, topics, processing = self.config, self.config.kafka_topics, self.config.processing
        consumer_props = {**FETCH_DEFAULTS, **consumer_config(config)}
        producer_props = {**producer_config(config), "message.max.bytes": MAX_RECORD}
        if processing.guarantee == "exactly_once":
            group = consumer_props["group.id"]
            producer_props.setdefault("transactional.id", f"{group}-{uuid.uuid4().hex[:12]}")
            producer_props.setdefault("transaction.timeout.ms", 10_000)  # as Kafka Streams
        admin = create_client(AdminClient, admin_config(config))
        existing = check_topics(admin, config)
        events = len(existing[topics.events].partitions)
        labels = len(existing[topics.labels].partitions) if topics.labels else 0
        internal = internal_topics(config, events)
        ensure_internal_topics(admin, config, existing, internal)
        limit = dead_letter_limit(admin, topics.dead_letter, MAX_RECORD)
        # Several dead letters batched into one request must still fit the topic's limit.
        producer_props.setdefault("batch.size", min(_BATCH_BYTES, limit))
        consumer = GroupConsumer(config, consumer_props, internal.repartition)
        try:
            committer = (
                TransactionalCommitter(producer_props, consumer.client, admin)
                if processing.guarantee == "exactly_once"
                else Committer(create_client(Producer, producer_props), consumer.client)
            )
        except Exception:
            consumer.close()
            raise
        ctx = WorkerContext(
            config,
            internal,
            events,
            labels,
            committer,
            self.report,
            self.metrics,
            self._ends,
            limit,
        )
        self._ctx, self._consumer = ctx, consumer
        # Each stage owns its part of the engine: stage one the splitter, stage two the
        # applier and, through the state store, the units (see detector.kafka.unit_stage).
        engine = self._engine
        self._store = StateStore(engine.units, internal, consumer_props)
        self._inputs = InputStage(ctx, engine.splitter)
        self._units = UnitStage(ctx, engine.applier, self._store)
        self._progress = Progress(ctx, consumer, self._store, self._inputs, self._units)

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> WorkerReport:
        """Consume until stopped (or, with ``until_end``, until the end offsets seen at start)."""
        self._connect()
        ctx, consumer = self._ctx, self._consumer
        inputs, units, progress = self._inputs, self._units, self._progress
        assert ctx and consumer and inputs and units and progress
        topics, processing, run = self.config.kafka_topics, self.config.processing, self.config.run
        ok = False
        try:
            if self.until_end:
                self._ends.read_inputs(consumer.client, self.config)
            subscribed = [topics.events, ctx.internal.repartition]
            subscribed += [topics.labels] if topics.labels else []
            consumer.subscribe(subscribed, self)
            self.metrics.started(self._ends.events)
            last_commit = time.monotonic()
            timeout = run.batch_timeout

            def read_positions(partitions: list[int]) -> dict[int, tuple[int, int]]:
                return consumer.positions(topics.events, partitions)

            while not self._stop.is_set():
                if progress.rewind_due:
                    progress.rewind()
                produced = inputs.records_produced
                messages = consumer.consume(run.batch_size, timeout)
                ctx.committer.begin()  # after consume: a revocation inside it commits the last
                self.metrics.polled(read_positions, self._event_partitions())
                batch = sort_records(messages, ctx.internal.repartition, topics.labels)
                # Stage two starts on the repartition records first: stage one runs on the
                # input records while the series update.
                pending = units.start(batch.internal, time.monotonic())
                inputs.process(batch)
                for message in batch.errors:
                    self._error(message)
                inputs.forward(time.monotonic())
                units.finish(pending)
                for record in batch.internal:
                    topic, partition, offset = where(record)
                    self._ends.seen(topic, partition, offset + 1)
                waiting = units.waiting()
                inputs.throttle(consumer, HELD_BATCHES * run.batch_size, waiting, units.floor())
                self.metrics.order(
                    self.report.enforced,
                    waiting,
                    self._engine.stats.units_reset,
                    self._store.discarded if self._store else 0,
                )
                # Chunks just produced come back within milliseconds: poll again at once
                # rather than waiting a whole batch_timeout (it would add to alert latency).
                timeout = _CHUNK_WAIT if inputs.records_produced > produced else run.batch_timeout
                now = time.monotonic()
                if now - last_commit >= processing.commit_seconds:
                    progress.commit()
                    last_commit = now
                if self.until_end and self._at_end():
                    break
            ok = True
        finally:
            self.metrics.stopped()
            self._failed = not ok  # leaving the group must not commit past a failure
            units.close()  # an update still running (the loop raised) ends before state is read
            try:
                if ok:
                    progress.commit()
                else:
                    ctx.committer.abandon()
            finally:
                self._summarise()  # before close(): leaving the group drops the units
                consumer.close()
        return self.report

    def _summarise(self) -> None:
        assert self._store is not None
        self.report.series = len(self._engine.series)
        self.report.restored_units = self._store.restored_units
        self.report.discarded_units = self._store.discarded
        self.report.units_reset = self._engine.stats.units_reset
        if self.config.kafka_topics.labels is not None:
            self.report.join = labels_summary(
                self._engine.performance, self.report.labels, self.report.label_dead_letters
            )

    def _error(self, message: Message) -> None:
        """An error event of the consumer: ends of partitions, or a real error."""
        assert self._inputs is not None
        err = message.error()
        assert err is not None
        if err.code() == KafkaError._PARTITION_EOF:
            topic, partition, offset = where(message)
            self._inputs.eof(topic, partition, offset)
            self._ends.seen(topic, partition, offset)
            return
        self.metrics.error("consume", err.name())
        if err.fatal():
            raise KafkaBoundaryError(f"fatal consumer error: {describe_error(err)}")
        log.warning("consumer error: %s", describe_error(err))

    def _event_partitions(self) -> list[int]:
        assert self._inputs is not None
        events = self.config.kafka_topics.events
        return sorted(p for t, p in self._inputs.sources if t == events)

    def _at_end(self) -> bool:
        assert self._ctx and self._inputs and self._units and self._progress
        topics = self.config.kafka_topics
        assigned: dict[str, set[int]] = {}
        for topic, partition in self._inputs.sources:
            assigned.setdefault(topic, set()).add(partition)
        if not assigned.get(topics.events):
            return False
        for topic in filter(None, (topics.events, topics.labels)):
            if not self._ends.done(topic, assigned.get(topic, set())):
                return False
        if self._units.waiting() or self._inputs.merge.pending():
            return False
        repartition, owned = self._ctx.internal.repartition, sorted(self._units.merges)
        if not self._ends.known(repartition):
            if not self._progress.commit():  # every chunk of the input committed: final ends
                return False
            assert self._consumer is not None
            self._ends.read_true(self._consumer.props, repartition, owned)
        slack = 1 if self.config.processing.guarantee == "exactly_once" else 0
        return self._ends.done(repartition, set(owned), slack)

    # -- group membership (called by the consumer inside consume()) ----------------------------

    def assigned(self, partitions: list[TopicPartition]) -> None:
        assert self._ctx and self._consumer and self._store and self._inputs and self._units
        repartition = self._ctx.internal.repartition
        inputs = [(p.topic, p.partition) for p in partitions if p.topic != repartition]
        owned = [p.partition for p in partitions if p.topic == repartition]
        self._inputs.assign(self._consumer.committed(inputs))
        self.metrics.restoring(True)
        try:  # before any record of these partitions is applied
            self._units.own(self._store.restore(owned, self._ctx.input_partitions()))
        finally:
            self.metrics.restoring(False)
        self.report.restore_seconds += self._store.restore_seconds if owned else 0.0
        if owned:  # --until-end drains these too: their end offsets are read again
            self._ends.ends.pop(self._ctx.internal.repartition, None)
        self._units.stream_seen = time.monotonic()
        self.metrics.assigned(self._event_partitions())
        log.info(
            "assigned partitions %s, owning units of %s",
            sorted(p for t, p in inputs if t == self.config.kafka_topics.events),
            owned,
        )

    def revoked(self, partitions: list[TopicPartition]) -> None:
        """Commit what was done for these partitions, then let their units go."""
        assert self._progress is not None and self._consumer is not None
        if not self._failed and not self._consumer.closing:
            self._progress.commit()
        self._release(partitions)

    def lost(self, partitions: list[TopicPartition]) -> None:
        """Another member may own these already: never commit for them (uncommitted work is
        redone by the new owner). Exactly-once, the aborted transaction also held work for the
        partitions we keep, so those rewind too."""
        assert self._ctx is not None and self._progress is not None
        self._ctx.committer.abandon()
        self._release(partitions)
        self._progress.rewind_due |= self._ctx.committer.exactly_once

    def _release(self, partitions: list[TopicPartition]) -> None:
        assert self._ctx and self._store and self._inputs and self._units
        repartition = self._ctx.internal.repartition
        inputs: list[Coords] = [
            (p.topic, p.partition) for p in partitions if p.topic != repartition
        ]
        owned = [p.partition for p in partitions if p.topic == repartition]
        self._inputs.revoke(inputs)
        self._store.drop(owned)
        self._units.release(owned)
        self.metrics.revoked(self._event_partitions())
