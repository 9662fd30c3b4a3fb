"""Stage two of the worker: repartition records to the units this worker owns, then alerts.

Each loop turn starts stage two on the repartition records it consumed (:meth:`StageTwo.start`),
then runs stage one on its input records while the series update, and finishes stage two
(:meth:`StageTwo.finish`) before anything reads unit state: offsets, snapshots, commits. The
series' per-value work runs in Rust without the GIL, so stage one's decoding and producing
fill the time the update threads leave a core free. Nothing of stage two outlives the turn
that started it, so rebalances (inside ``consume``), rewinds and commits never meet one in
flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message, Producer

from detector.alerts import CONTENT_TYPE, AlertEvent, alert_bytes
from detector.chunks import Chunk, StreamChunk, UnitKey, unit_partition
from detector.config import Config
from detector.engine import Engine
from detector.errors import StateError
from detector.events import Rejection
from detector.kafka.ends import EndOffsets
from detector.kafka.ingest import Ingest
from detector.kafka.internal import read_slice
from detector.kafka.progress import Progress
from detector.kafka.report import WorkerReport, next_offsets, where
from detector.kafka.state_store import StateStore
from detector.observability.metrics import WorkerMetrics


@dataclass
class Pending:
    """Stage two of one loop turn, under way."""

    records: list[Message]
    stream_seen: bool
    alerts: Future[list[AlertEvent]] | None


class StageTwo:
    """Applies repartition records to the units of the partitions this worker owns."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        store: StateStore,
        partitions: int,
        ingest: Ingest,
        report: WorkerReport,
        metrics: WorkerMetrics,
        ends: EndOffsets,
        on_delivery: Callable[..., Any],
    ) -> None:
        self.config = config
        self.engine = engine
        self.store = store
        self.partitions = partitions
        self.ingest = ingest  # for dead letters
        self.report = report
        self.metrics = metrics
        self.ends = ends
        self.on_delivery = on_delivery
        self.stream_seen = time.monotonic()  # last stream chunk: for the silence check
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="stage-two")

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def start(self, records: list[Message], producer: Producer) -> Pending:
        """Cut the records into the owned units' chunks and start updating them."""
        chunks: list[Chunk] = []
        for record in records:
            _, partition, offset = where(record)
            try:
                part = read_slice(record.value())
            except StateError as exc:
                rejection = Rejection(0, "bad_chunk", str(exc))
                self.ingest.dead_letter(record, rejection, producer)
                self.report.dead_letters["bad_chunk"] += 1
                continue

            def keep(key: UnitKey, partition: int = partition, offset: int = offset) -> bool:
                # A slice carries whole columns: units of other partitions are theirs.
                owner = unit_partition(key, self.partitions)
                return owner == partition and self.store.fresh(key, offset)

            chunks += self.engine.chunks(part, keep)
        stream_seen = any(isinstance(c, StreamChunk) for c in chunks)
        alerts = self._executor.submit(self.engine.apply, chunks) if chunks else None
        return Pending(records, stream_seen, alerts)

    def finish(self, pending: Pending, progress: Progress, producer: Producer) -> None:
        """Wait for the update; then offsets, the silence check and the alerts."""
        alerts = pending.alerts.result() if pending.alerts is not None else []
        progress.advance(next_offsets(pending.records))
        for record in pending.records:
            topic, partition, offset = where(record)
            self.ends.seen(topic, partition, offset + 1)
        if pending.stream_seen:
            self.stream_seen = time.monotonic()
        elif self.engine.stream is not None:
            alerts += self.engine.idle(time.monotonic() - self.stream_seen)
        for alert in alerts:
            producer.produce(
                self.config.topics.alerts,
                key=alert.data.dedup_key.encode(),
                value=alert_bytes(alert),
                headers=[("content-type", CONTENT_TYPE.encode())],
                on_delivery=self.on_delivery,
            )
        self.report.alerts += len(alerts)
        if alerts:
            self.metrics.alerts([(a.data.kind, a.data.severity, a.data.status) for a in alerts])
