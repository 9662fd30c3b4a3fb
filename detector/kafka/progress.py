"""How far a worker got, and making it durable: offsets to commit, commits and rewinds.

The worker advances the next offset of a partition once its records are done with: input
records once their chunks are produced, repartition records once applied. A commit snapshots
the units changed since the last one, with the repartition offsets they cover, then commits the
offsets through the :class:`~detector.kafka.commits.Committer` (in one transaction,
exactly-once). After an aborted transaction, a rewind puts consumption and unit state back to
the last commit.
"""

from __future__ import annotations

import logging

from confluent_kafka import Consumer, TopicPartition

from detector.config import Config
from detector.kafka.commits import AbortedTransaction, CommitDeferred, Committer
from detector.kafka.ends import EndOffsets
from detector.kafka.positions import committed, start_offset
from detector.kafka.report import WorkerReport
from detector.kafka.state_store import StateStore

log = logging.getLogger("detector.worker")
Coords = tuple[str, int]  # topic, partition


class Progress:
    """The next offset to commit per partition, and the commits and rewinds that move it."""

    def __init__(
        self,
        config: Config,
        repartition: str,
        store: StateStore,
        committer: Committer,
        ends: EndOffsets,
        report: WorkerReport,
    ) -> None:
        self.config = config
        self.repartition = repartition
        self.offsets: dict[Coords, int] = {}
        self.rewind_due = False  # an aborted transaction: rewind before the next poll
        self._store = store
        self._committer = committer
        self._ends = ends
        self._report = report

    def advance(self, offsets: list[TopicPartition]) -> None:
        for tp in offsets:
            self.offsets[(tp.topic, tp.partition)] = tp.offset

    def forget(self, gone: set[Coords]) -> None:
        """Partitions that left this worker: never committed from here again."""
        self.offsets = {tp: o for tp, o in self.offsets.items() if tp not in gone}

    def commit(self) -> bool:
        """Snapshot changed units, then commit offsets (atomically, exactly-once); False when
        the commit was deferred or its transaction aborted."""
        positions = {p: o for (t, p), o in self.offsets.items() if t == self.repartition}
        self._committer.begin()
        self._report.snapshots += self._store.snapshot(
            self._committer.producer, positions, self._committer.on_delivery
        )
        offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(self.offsets.items())]
        try:
            self._committer.commit(offsets)
        except CommitDeferred as exc:
            log.warning("commit deferred, brokers unreachable: %s", exc)
            return False
        except AbortedTransaction as exc:
            log.warning("transaction aborted (%s): rewinding to the last commit", exc)
            self.rewind_due = True
            return False
        self._report.commits += 1
        return True

    def rewind(self, consumer: Consumer, owned: set[int]) -> None:
        """Consumption and the units of the ``owned`` repartition partitions back to the last
        commit (the caller drops whatever else it queued since)."""
        for tp in committed(consumer, consumer.assignment()):
            key = (tp.topic, tp.partition)
            if tp.offset >= 0:
                self.offsets[key] = tp.offset
            else:
                self.offsets.pop(key, None)
            self._ends.progress[key] = max(tp.offset, 0)
            start = start_offset(self.config, self.repartition, tp)
            consumer.seek(TopicPartition(tp.topic, tp.partition, start))
        self._ends.ends.pop(self.repartition, None)  # read again once the input is redone
        self._store.drop(owned)
        self._store.restore(owned)
        self.rewind_due = False
        self._report.rewinds += 1
