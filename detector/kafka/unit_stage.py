"""Stage two of the worker: repartition records merged into key order, applied to the units.

Every repartition partition this worker owns has its :class:`~detector.merge.OrderedMerge`:
records from any number of stage-one workers go in as they arrive, and rows come out in key
order (:mod:`detector.order`) once every source's bound is past them. The released rows are
cut into the chunks of the partition's units; a unit restored from a snapshot skips the rows
its snapshot already covers (``StateStore.applied``), so rows replayed after a crash, a rewind
or a rebalance are applied once.

Each loop turn starts stage two on the repartition records it consumed (:meth:`UnitStage.start`),
then runs stage one on its input records while the series update, and finishes stage two
(:meth:`UnitStage.finish`) before anything reads unit state: offsets, snapshots, commits.
So the applier (:class:`~detector.applier.Applier`) and its units have one owner at a time:
the stage's update thread while an update runs, the loop's thread once :meth:`finish` has
waited for it (the silence check, then the state store's snapshots and restores).
The series' per-value work runs in Rust without the GIL, so stage one's decoding and producing
fill the time the update threads leave a core free. Nothing of stage two outlives the turn that
started it, so rebalances (inside ``consume``), rewinds and commits never meet one in flight.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from confluent_kafka import Message, TopicPartition

from detector.alerts import CONTENT_TYPE, AlertEvent, alert_bytes
from detector.applier import Applier
from detector.chunks import (
    PERFORMANCE_UNIT,
    Chunk,
    StreamChunk,
    chunk_unit,
    unit_partition,
    without_applied,
)
from detector.errors import StateError
from detector.events import Rejection
from detector.kafka.clients import produce
from detector.kafka.context import WorkerContext
from detector.kafka.report import where
from detector.kafka.state_store import StateStore
from detector.merge import MergeState, OrderedMerge
from detector.slices import Slice
from detector.split import slice_chunks
from detector.state.slice_format import decode_slice

log = logging.getLogger("detector.worker")


@dataclass
class Pending:
    """Stage two of one loop turn, under way."""

    stream_seen: bool
    alerts: Future[list[AlertEvent]] | None


class UnitStage:
    """The merges and units of the repartition partitions this worker owns."""

    def __init__(self, ctx: WorkerContext, applier: Applier, store: StateStore) -> None:
        self.ctx = ctx
        self.applier = applier
        self.store = store
        self.merges: dict[int, OrderedMerge] = {}
        self.consumed: dict[int, int] = {}  # next offset after the last record read, per p
        self.stream_seen = time.monotonic()  # last stream chunk: for the silence check
        self._performance = unit_partition(PERFORMANCE_UNIT, ctx.internal.partitions)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="unit-stage")

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    # -- ownership -----------------------------------------------------------------------------

    def own(self, states: dict[int, MergeState | None]) -> None:
        """Partitions restored from the changelog: a merge each, resumed from its state."""
        processing = self.ctx.config.processing
        lag_wait = processing.lag_wait if processing.lag_wait is not None else math.inf
        for partition, state in states.items():
            self.merges[partition] = OrderedMerge(
                self.ctx.sources(partition == self._performance),
                processing.idle_wait,
                lag_wait,
                state,
            )
            self.consumed.pop(partition, None)

    def release(self, partitions: list[int]) -> None:
        for partition in partitions:
            self.merges.pop(partition, None)
            self.consumed.pop(partition, None)

    # -- records -------------------------------------------------------------------------------

    def start(self, records: list[Message], now: float) -> Pending:
        """Queue the records in their partitions' merges, cut what the merges release into the
        owned units' chunks, and start updating them."""
        for record in records:
            _, partition, offset = where(record)
            merge = self.merges.get(partition)
            self.consumed[partition] = offset + 1
            if merge is None:  # a partition revoked within this consume()
                continue
            try:
                part = decode_slice(record.value() or b"")
            except StateError as exc:
                self.ctx.dead_letter(record, Rejection(0, "bad_chunk", str(exc)))
                continue
            merge.push(part, offset)
        chunks: list[Chunk] = []
        for partition, merge in self.merges.items():
            released = merge.release(now)
            if merge.last_enforced:
                self.ctx.report.enforced += 1
                log.warning(
                    "partition %d: went on without source(s) %s, behind for %.0f s or more "
                    "(processing.lag_wait); their rows may come out of order",
                    partition,
                    merge.last_enforced,
                    merge.lag_wait,
                )
            for part in released:
                chunks += self._owned_chunks(partition, part)
        stream_seen = any(isinstance(c, StreamChunk) for c in chunks)
        alerts = self._executor.submit(self.applier.apply, chunks) if chunks else None
        return Pending(stream_seen, alerts)

    def _owned_chunks(self, partition: int, part: Slice) -> list[Chunk]:
        out: list[Chunk] = []
        config, partitions = self.ctx.config, self.ctx.internal.partitions
        applied = self.store.applied
        for chunk in slice_chunks(
            config, part, lambda key: unit_partition(key, partitions) == partition
        ):
            covered = applied.get(chunk_unit(chunk))
            fresh = without_applied(chunk, covered) if covered else chunk
            if fresh is not None:
                out.append(fresh)
        return out

    def finish(self, pending: Pending) -> None:
        """Wait for the update; then the silence check and the alerts."""
        alerts = pending.alerts.result() if pending.alerts is not None else []
        if pending.stream_seen:
            self.stream_seen = time.monotonic()
        elif self.applier.units.stream is not None:
            alerts += self.applier.idle(time.monotonic() - self.stream_seen)
        producer = self.ctx.producer
        for alert in alerts:
            produce(
                producer,
                self.ctx.config.kafka_topics.alerts,
                key=alert.data.dedup_key.encode(),
                value=alert_bytes(alert),
                headers=[("content-type", CONTENT_TYPE.encode())],
                on_delivery=self.ctx.committer.on_delivery,
            )
        self.ctx.report.alerts += len(alerts)
        if alerts:
            self.ctx.metrics.alerts([(a.data.kind, a.data.severity, a.data.status) for a in alerts])

    # -- commits and flow ----------------------------------------------------------------------

    def checkpoints(self) -> dict[int, tuple[int | None, MergeState]]:
        """Per owned partition: the offset to commit and the merge's state as of it."""
        out: dict[int, tuple[int | None, MergeState]] = {}
        for partition, merge in self.merges.items():
            tag, state = merge.checkpoint()
            out[partition] = (tag if tag is not None else self.consumed.get(partition), state)
        return out

    def commit_offsets(
        self, checkpoints: dict[int, tuple[int | None, MergeState]]
    ) -> list[TopicPartition]:
        topic = self.ctx.internal.repartition
        return [
            TopicPartition(topic, p, offset)
            for p, (offset, _) in sorted(checkpoints.items())
            if offset is not None
        ]

    def waiting(self) -> int:
        """Rows the merges hold back, in the fullest one."""
        return max((m.pending() for m in self.merges.values()), default=0)

    def floor(self) -> float:
        """The smallest partition time any merge waits at (where the slowest source is)."""
        ptimes = [b.ptime for m in self.merges.values() for b in m.bounds.values() if not b.at_end]
        return min(ptimes, default=math.inf)
