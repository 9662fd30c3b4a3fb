"""Stage one of the worker: input records in, keyed slices on the repartition topic out.

Events (and labels) are decoded and validated (rejections go to the dead-letter topic), and
each accepted row gets its key (:mod:`detector.order`: partition time, source, offset). The
rows of this worker's partitions go through a merge (:class:`~detector.merge.OrderedMerge`),
as Kafka Streams' partition group does for a task, so what leaves is in key order across
every partition it reads; cut into slices of at most ``SPLIT_ROWS`` events, it goes to every
repartition partition that owns one of its units, with the columns those units need
(:mod:`detector.split`). Stage two merges again, for the rows of several workers.

Each record carries the sender's *bounds*: where each of its sources stands once the record
is read (:class:`~detector.order.Bound`: the first row not sent yet, held here or in a later
record, or the next offset), so stage two knows when no older row of a source can come. A
partition whose bounds moved without a record for it gets a record with bounds only.

A source whose rows pile up here, waiting for the others, is paused until they drain. Each
source's committed position is its first row not sent yet, with that row's partition time as
metadata, so a restart, a rewind or another worker resumes with the same keys.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
from confluent_kafka import TopicPartition

from detector._native import SortedRecords
from detector.chunks import PERFORMANCE_UNIT, unit_partition
from detector.events import Decoder
from detector.kafka.clients import produce
from detector.kafka.consumer import Committed, Coords, GroupConsumer, commit_metadata
from detector.kafka.context import WorkerContext
from detector.kafka.internal import SPLIT_ROWS
from detector.labels.decode import LabelDecoder
from detector.merge import OrderedMerge
from detector.order import NO_TIME, Bound, Key, Keys, partition_times
from detector.slices import Slice, sorted_runs, split_rows
from detector.split import Splitter, partition_slices
from detector.state.slice_format import encode_slice

log = logging.getLogger("detector.worker")


@dataclass
class Source:
    """An assigned input partition: its partition time and next offset to read."""

    topic: str
    partition: int
    source: int
    ptime: float = NO_TIME
    offset: int = 0
    at_end: bool = False

    def bound(self) -> Bound:
        return Bound(self.ptime, self.source, self.offset, self.at_end)


class InputStage:
    """Decodes, keys, orders, splits and forwards a worker's input records. Its ``splitter``
    (the engine's stage one) is used by this stage only, on the loop's thread."""

    def __init__(self, ctx: WorkerContext, splitter: Splitter) -> None:
        self.ctx = ctx
        self.splitter = splitter
        self.decoder = Decoder(ctx.config)
        self.label_decoder = LabelDecoder(ctx.config) if ctx.config.label else None
        self.sources: dict[Coords, Source] = {}
        self.records_produced = 0  # repartition records
        self.paused: set[Coords] = set()
        self.merge = self._new_merge()
        self._carry: dict[int, float] = {}  # partition time per source (partition_times)
        self._sent: dict[int, tuple[Bound, ...]] = {}  # bounds last sent per repartition p
        self._performance = unit_partition(PERFORMANCE_UNIT, ctx.internal.partitions)
        self._downstream = False  # paused for stage two's merges (see throttle)

    def _new_merge(self) -> OrderedMerge:
        processing = self.ctx.config.processing
        lag_wait = processing.lag_wait if processing.lag_wait is not None else math.inf
        return OrderedMerge(set(), processing.idle_wait, lag_wait, apart=False)

    # -- assignment ----------------------------------------------------------------------------

    def assign(self, committed: dict[Coords, Committed]) -> None:
        """New input partitions, starting where the group committed them."""
        for (topic, partition), position in committed.items():
            source = self.ctx.source(topic, partition)
            state = Source(topic, partition, source, position.ptime, max(position.offset, 0))
            self.sources[(topic, partition)] = state
            self._carry[source] = position.ptime
            self.merge.expect(state.bound())

    def revoke(self, partitions: list[Coords]) -> None:
        """Partitions gone: their rows not sent yet are the next owner's to read again."""
        for coords in partitions:
            state = self.sources.pop(coords, None)
            if state is not None:
                self._carry.pop(state.source, None)
                self.merge.forget(state.source)
            self.paused.discard(coords)

    def reset(self, committed: dict[Coords, Committed], consumer: GroupConsumer) -> None:
        """After a rewind: every source back to its committed position, none paused."""
        consumer.resume(self.paused)
        self.revoke(list(self.sources))
        self.merge = self._new_merge()
        self.assign(committed)
        self._sent.clear()

    # -- records -------------------------------------------------------------------------------

    def process(self, batch: SortedRecords) -> None:
        """A consumed batch's input records: decode, key, dead-letter, queue in the merge."""
        if not batch.inputs:
            return
        started = time.perf_counter()
        labels = batch.labels if self.label_decoder is not None else None
        rejected: list[str] = []
        event_rows = np.flatnonzero(~labels) if labels is not None else None
        newest = self._events(batch, event_rows, rejected)
        if labels is not None and labels.any():
            self._labels(batch, np.flatnonzero(labels))
        for topic, partition, offset in batch.next_offsets:
            state = self.sources.get((topic, partition))
            if state is not None and offset > state.offset:
                state.offset, state.at_end = offset, False
                self.ctx.ends.seen(topic, partition, offset)
        for state in self.sources.values():
            state.ptime = self._carry.get(state.source, state.ptime)
            self.merge.advance(state.bound())
        report = self.ctx.report
        records = len(batch.inputs) if labels is None else int((~labels).sum())
        report.records += records
        report.labels += len(batch.inputs) - records
        report.batches += 1
        events = self.ctx.config.kafka_topics.events
        offsets = [TopicPartition(t, p, o) for t, p, o in batch.next_offsets if t == events]
        elapsed = time.perf_counter() - started
        self.ctx.metrics.batch(records, offsets, [], rejected, newest, elapsed)

    def _events(
        self, batch: SortedRecords, rows: np.ndarray | None, rejected: list[str]
    ) -> float | None:
        """Queue the accepted events in key order; the newest event time (None: none)."""
        values = batch.values if rows is None else [batch.values[i] for i in rows.tolist()]
        if not values:
            return None
        times = batch.times if rows is None else batch.times[rows]
        partitions = batch.partitions if rows is None else batch.partitions[rows]
        offsets = batch.offsets if rows is None else batch.offsets[rows]
        result = self.decoder.decode(values, times)
        records = batch.inputs if rows is None else [batch.inputs[i] for i in rows.tolist()]
        for rejection in result.rejections:
            self.ctx.dead_letter(records[rejection.position], rejection)
            rejected.append(rejection.reason)
        decoded = result.batch
        if not decoded.size:
            return None
        accepted = np.asarray(decoded.positions, np.int64)
        sources = partitions[accepted].astype(np.int32)
        ptimes = partition_times(sources, decoded.times, self._carry)
        keys = Keys(ptimes, sources, offsets[accepted])
        for run in sorted_runs(self.splitter.slice(decoded, keys, ordered=False)):
            self.merge.push(run)  # each partition's run as it came: no sorting here
        return float(decoded.times.max())

    def _labels(self, batch: SortedRecords, rows: np.ndarray) -> None:
        assert self.label_decoder is not None
        values = [batch.values[i] for i in rows.tolist()]
        decoded = self.label_decoder.decode(values, batch.times[rows].tolist())
        records = [batch.inputs[i] for i in rows.tolist()]
        for rejection in decoded.rejections:
            self.ctx.dead_letter(records[rejection.position], rejection)
        labels = decoded.batch
        if not labels.size:
            return
        accepted = np.asarray(labels.positions, np.int64)
        first = self.ctx.source(self.ctx.config.kafka_topics.labels or "", 0)
        sources = (batch.partitions[rows][accepted] + first).astype(np.int32)
        ptimes = partition_times(sources, labels.times, self._carry)
        keys = Keys(ptimes, sources, batch.offsets[rows][accepted])
        self.merge.push(self.splitter.label_slice(labels, keys))

    def eof(self, topic: str, partition: int, offset: int) -> None:
        """The partition reached its end at ``offset`` (an end-of-partition event)."""
        state = self.sources.get((topic, partition))
        if state is not None and offset >= state.offset:
            state.offset, state.at_end = offset, True
            self.merge.advance(state.bound())

    # -- forwarding ----------------------------------------------------------------------------

    def forward(self, now: float) -> None:
        """Send what the merge releases, each slice with the bounds as of after it, then
        bounds-only records to partitions whose bounds moved without a record."""
        # A record of 30 float columns stays near 5 MB.
        pieces = [p for part in self.merge.release(now) for p in split_rows(part, SPLIT_ROWS)]
        if self.merge.last_enforced:
            self.ctx.report.enforced += 1
            log.warning(
                "went on without input source(s) %s, behind for %.0f s or more "
                "(processing.lag_wait); their rows may come out of order",
                self.merge.last_enforced,
                self.merge.lag_wait,
            )
        held = {source: key for source, (key, _) in self.merge.held().items()}
        later = dict(held)
        plans: list[tuple[Slice, dict[int, Key]]] = []
        for piece in reversed(pieces):
            plans.append((piece, dict(later)))
            for keys in _all_keys(piece):
                later.update(_first_keys(keys))
        for piece, ahead in reversed(plans):
            shares = partition_slices(self.ctx.config, piece, self.ctx.internal.partitions)
            for partition, share in shares.items():
                share.bounds = list(self._bounds(partition, ahead))
                self._produce(partition, share)
        self._send_bounds(held)

    def _bounds(self, partition: int, ahead: dict[int, Key]) -> tuple[Bound, ...]:
        """Where this worker's sources stand for one repartition partition: each one's first
        row not sent yet (``ahead``), else its next offset."""
        wanted = self.ctx.sources(partition == self._performance)
        out = []
        for state in sorted(self.sources.values(), key=lambda s: s.source):
            if state.source not in wanted:
                continue
            key = ahead.get(state.source)
            out.append(state.bound() if key is None else Bound(key[0], state.source, key[2]))
        return tuple(out)

    def _send_bounds(self, held: dict[int, Key]) -> None:
        for partition in range(self.ctx.internal.partitions):
            bounds = self._bounds(partition, held)
            if bounds and self._sent.get(partition) != bounds:
                empty = Slice(np.empty(0, np.int64), np.empty(0), {}, {}, {}, {}, stream=False)
                empty.bounds = list(bounds)
                self._produce(partition, empty)

    def _produce(self, partition: int, share: Slice) -> None:
        producer = self.ctx.producer
        produce(
            producer,
            self.ctx.internal.repartition,
            value=encode_slice(share),
            partition=partition,
            on_delivery=self.ctx.committer.on_delivery,
        )
        producer.poll(0)
        self._sent[partition] = tuple(share.bounds)
        self.records_produced += 1

    # -- commits and flow ----------------------------------------------------------------------

    def commit_offsets(self) -> list[TopicPartition]:
        """Each source's first row not sent yet (else its next offset), with that position's
        partition time as metadata."""
        held = self.merge.held()
        out = []
        for state in self.sources.values():
            offset, ptime = state.offset, state.ptime
            if state.source in held:
                (ptime, _, offset), _ = held[state.source]
            metadata = commit_metadata(ptime)
            out.append(TopicPartition(state.topic, state.partition, offset, metadata=metadata))
        return out

    def throttle(self, consumer: GroupConsumer, limit: int, downstream: int, floor: float) -> None:
        """Pause a source whose rows pile up here waiting for the others (more than ``limit``)
        until half of them left. Stage two's merges may wait for other workers' partitions:
        while more than ``downstream`` rows wait there, the sources ahead of ``floor`` (the
        partition time they wait at) pause too."""
        held = self.merge.held()
        wanted: set[Coords] = set()
        for coords, state in self.sources.items():
            queued = held.get(state.source, ((0.0, 0, 0), 0))[1]
            if queued > limit or (coords in self.paused and queued > limit // 2):
                wanted.add(coords)
        self._downstream = downstream > limit * 5 or (self._downstream and downstream > limit)
        if self._downstream:
            wanted |= {c for c, s in self.sources.items() if s.ptime > floor}
        pause, resume = wanted - self.paused, self.paused - wanted
        if pause:
            consumer.pause(pause)
        if resume:
            consumer.resume(resume)
        if wanted and not self.paused:
            log.info("pausing input partitions that are ahead of the others")
        elif self.paused and not wanted:
            log.info("every input partition flows again")
        self.paused = wanted


def _all_keys(piece: Slice) -> list[Keys]:
    return [piece.keys] + ([piece.performance.keys] if piece.performance is not None else [])


def _first_keys(keys: Keys) -> dict[int, Key]:
    """Each source's first key in ``keys`` (rows in key order)."""
    out: dict[int, Key] = {}
    if not len(keys):
        return out
    sources, first = np.unique(keys.sources, return_index=True)
    for source, row in zip(sources.tolist(), first.tolist(), strict=True):
        out[source] = (float(keys.ptimes[row]), source, int(keys.offsets[row]))
    return out
