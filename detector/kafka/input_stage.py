"""Stage one of the worker: input records in, keyed slices on the repartition topic out.

Events (and labels) are decoded and validated (rejections go to the dead-letter topic), each
accepted row gets its key (:mod:`detector.order`: partition time, source, offset), and the
rows, sorted by key and cut into slices of at most ``SPLIT_ROWS`` events, go to every
repartition partition that owns one of their units, with the columns those units need
(:mod:`detector.split`). Nothing waits here: the merge into key order happens where the units
are (:mod:`detector.kafka.unit_stage`).

Each record carries the sender's *bounds*: where each of its sources stands once the record
is read (:class:`~detector.order.Bound`), so the merge knows when no older row of a source can
come. A partition whose bounds moved without a record for it (rows all rejected, a source at
its end, a partition just assigned) gets a record with bounds only.

Stage one's own state is each source's partition time and next offset. Both are committed
together (the partition time as offset metadata), so a restart, a rewind or another worker
resumes with the same keys.
"""

from __future__ import annotations

import logging
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
from detector.order import NO_TIME, Bound, Key, Keys, partition_times
from detector.slices import Slice, take_rows
from detector.split import partition_slices
from detector.state.slice_format import encode_slice

log = logging.getLogger("detector.worker")


@dataclass
class Source:
    """An assigned input partition: its partition time and next offset to process."""

    topic: str
    partition: int
    source: int
    ptime: float = NO_TIME
    offset: int = 0
    at_end: bool = False

    def bound(self) -> Bound:
        return Bound(self.ptime, self.source, self.offset, self.at_end)


class InputStage:
    """Decodes, keys, splits and forwards a worker's input records."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.decoder = Decoder(ctx.config)
        self.label_decoder = LabelDecoder(ctx.config) if ctx.config.label else None
        self.sources: dict[Coords, Source] = {}
        self.records_produced = 0  # repartition records
        self.paused: set[Coords] = set()
        self._carry: dict[int, float] = {}  # partition time per source (partition_times)
        self._sent: dict[int, tuple[Bound, ...]] = {}  # bounds last sent per repartition p
        self._performance = unit_partition(PERFORMANCE_UNIT, ctx.internal.partitions)

    # -- assignment ----------------------------------------------------------------------------

    def assign(self, committed: dict[Coords, Committed]) -> None:
        """New input partitions, starting where the group committed them."""
        for (topic, partition), position in committed.items():
            source = self.ctx.source(topic, partition)
            state = Source(topic, partition, source, position.ptime, max(position.offset, 0))
            self.sources[(topic, partition)] = state
            self._carry[source] = position.ptime

    def revoke(self, partitions: list[Coords]) -> None:
        for coords in partitions:
            state = self.sources.pop(coords, None)
            if state is not None:
                self._carry.pop(state.source, None)
            self.paused.discard(coords)

    def reset(self, committed: dict[Coords, Committed], consumer: GroupConsumer) -> None:
        """After a rewind: every source back to its committed position, none paused."""
        consumer.resume(self.paused)
        self.revoke(list(self.sources))
        self.assign(committed)
        self._sent.clear()

    # -- records -------------------------------------------------------------------------------

    def process(self, batch: SortedRecords) -> None:
        """A consumed batch's input records: decode, key, dead-letter, split, produce."""
        if not batch.inputs:
            return
        started = time.perf_counter()
        labels = batch.labels if self.label_decoder is not None else None
        pieces: list[Slice] = []
        rejected: list[str] = []
        event_rows = np.flatnonzero(~labels) if labels is not None else None
        events, newest = self._events(batch, event_rows, rejected)
        if events is not None:
            pieces += [
                take_rows(events, slice(a, min(a + SPLIT_ROWS, events.size)), _tape(events, a))
                for a in range(0, events.size, SPLIT_ROWS)
            ]
        if labels is not None and labels.any():
            label_slice = self._labels(batch, np.flatnonzero(labels))
            if label_slice is not None:
                pieces.append(label_slice)
        for topic, partition, offset in batch.next_offsets:
            state = self.sources.get((topic, partition))
            if state is not None and offset > state.offset:
                state.offset, state.at_end = offset, False
                self.ctx.ends.seen(topic, partition, offset)
        self._send(pieces)
        report = self.ctx.report
        records = len(batch.inputs) if labels is None else int((~labels).sum())
        report.records += records
        report.labels += len(batch.inputs) - records
        report.batches += 1
        offsets = [
            TopicPartition(t, p, o)
            for t, p, o in batch.next_offsets
            if t == self.ctx.config.topics.events
        ]
        self.ctx.metrics.batch(
            records, offsets, [], rejected, newest, time.perf_counter() - started
        )

    def _events(
        self, batch: SortedRecords, rows: np.ndarray | None, rejected: list[str]
    ) -> tuple[Slice | None, float | None]:
        """The events' slice in key order (None: no event accepted), and the newest time."""
        values = batch.values if rows is None else [batch.values[i] for i in rows.tolist()]
        if not values:
            return None, None
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
            return None, None
        accepted = np.asarray(decoded.positions, np.int64)
        sources = partitions[accepted].astype(np.int32)
        keys = Keys(
            partition_times(sources, decoded.times, self._carry), sources, offsets[accepted]
        )
        self._note_ptimes()
        return self.ctx.engine.slice(decoded, keys), float(decoded.times.max())

    def _labels(self, batch: SortedRecords, rows: np.ndarray) -> Slice | None:
        assert self.label_decoder is not None
        values = [batch.values[i] for i in rows.tolist()]
        decoded = self.label_decoder.decode(values, batch.times[rows].tolist())
        records = [batch.inputs[i] for i in rows.tolist()]
        for rejection in decoded.rejections:
            self.ctx.dead_letter(records[rejection.position], rejection)
        labels = decoded.batch
        if not labels.size:
            return None
        accepted = np.asarray(labels.positions, np.int64)
        first = self.ctx.source(self.ctx.config.topics.labels or "", 0)
        sources = (batch.partitions[rows][accepted] + first).astype(np.int32)
        keys = Keys(
            partition_times(sources, labels.times, self._carry),
            sources,
            batch.offsets[rows][accepted],
        )
        self._note_ptimes()
        return self.ctx.engine.label_slice(labels, keys)

    def _note_ptimes(self) -> None:
        for state in self.sources.values():
            state.ptime = self._carry.get(state.source, state.ptime)

    def eof(self, topic: str, partition: int, offset: int) -> None:
        """The partition reached its end at ``offset`` (an end-of-partition event)."""
        state = self.sources.get((topic, partition))
        if state is not None and offset >= state.offset:
            state.offset, state.at_end = offset, True

    # -- forwarding ----------------------------------------------------------------------------

    def bounds(self, performance: bool) -> tuple[Bound, ...]:
        """Where this worker's sources stand, for one repartition partition."""
        wanted = self.ctx.sources(performance)
        return tuple(
            sorted(
                (s.bound() for s in self.sources.values() if s.source in wanted),
                key=lambda b: b.source,
            )
        )

    def _send(self, pieces: list[Slice]) -> None:
        """Produce each piece's shares with the bounds as of after it, then bounds-only
        records to partitions whose bounds moved without a record."""
        later: dict[int, Key] = {}  # each source's first key in the pieces after this one
        plans: list[tuple[Slice, dict[int, Key]]] = []
        for piece in reversed(pieces):
            plans.append((piece, dict(later)))
            for keys in _all_keys(piece):
                for source, key in _first_keys(keys).items():
                    later[source] = key
        for piece, ahead in reversed(plans):
            shares = partition_slices(self.ctx.config, piece, self.ctx.internal.partitions)
            for partition, share in shares.items():
                share.bounds = list(self._bounds_with(partition, ahead))
                self._produce(partition, share)
        self.send_bounds()

    def _bounds_with(self, partition: int, ahead: dict[int, Key]) -> tuple[Bound, ...]:
        out = []
        for bound in self.bounds(partition == self._performance):
            key = ahead.get(bound.source)
            out.append(bound if key is None else Bound(key[0], bound.source, key[2]))
        return tuple(out)

    def send_bounds(self) -> None:
        """A bounds-only record to every partition whose bounds moved since its last record."""
        for partition in range(self.ctx.internal.partitions):
            bounds = self.bounds(partition == self._performance)
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
        """Each source's next offset, with its partition time as metadata."""
        return [
            TopicPartition(s.topic, s.partition, s.offset, metadata=commit_metadata(s.ptime))
            for s in self.sources.values()
        ]

    def throttle(self, consumer: GroupConsumer, waiting: int, limit: int, floor: float) -> None:
        """Pause the sources ahead of ``floor`` (the partition time the merges wait at) while
        more than ``limit`` rows wait in them; resume them once they drained to half. Checked
        every turn: a source at the floor always flows (the merges wait for its rows)."""
        if waiting > limit:
            wanted = {c for c, s in self.sources.items() if s.ptime > floor}
        elif waiting <= limit // 2:
            wanted = set()
        else:
            wanted = {c for c in self.paused if c in self.sources and self.sources[c].ptime > floor}
        pause, resume = wanted - self.paused, self.paused - wanted
        if pause:
            consumer.pause(pause)
        if resume:
            consumer.resume(resume)
        if wanted and not self.paused:
            log.info("pausing partitions ahead of the others: %d rows wait for the rest", waiting)
        elif self.paused and not wanted:
            log.info("resumed every partition: %d rows wait", waiting)
        self.paused = wanted


def _tape(events: Slice, start: int) -> slice | None:
    if events.performance is None:
        return None
    return slice(start, min(start + SPLIT_ROWS, events.performance.size))


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
