"""How far a worker got, and making it durable: commits and rewinds.

A commit takes, at one point between loop turns, where each stage stands: each input
partition's next offset and partition time (:mod:`detector.kafka.input_stage`), and each owned
repartition partition's first record whose rows are not all applied, with its merge's state
as of that record (:mod:`detector.kafka.unit_stage`). It snapshots the units changed since the
last commit and the merges that moved, then commits the offsets through the
:class:`~detector.kafka.commits.Committer` (in one transaction, exactly-once).

After an aborted transaction, or when the group dropped this worker (an outage longer than
the session timeout), a rewind puts consumption and state back to the last commit; rows
applied since are skipped on the way forward (the snapshots say what each unit covers).
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException

from detector.errors import DeliveryError
from detector.kafka.commits import AbortedTransaction, CommitDeferred, MembershipLost
from detector.kafka.consumer import GroupConsumer
from detector.kafka.context import WorkerContext
from detector.kafka.input_stage import InputStage
from detector.kafka.state_store import StateStore
from detector.kafka.unit_stage import UnitStage

log = logging.getLogger("detector.worker")


class Progress:
    """Commits and rewinds of one worker."""

    def __init__(
        self,
        ctx: WorkerContext,
        consumer: GroupConsumer,
        store: StateStore,
        inputs: InputStage,
        units: UnitStage,
    ) -> None:
        self.ctx = ctx
        self.consumer = consumer
        self.store = store
        self.inputs = inputs
        self.units = units
        self.rewind_due = False  # an aborted transaction or a lost membership

    def commit(self) -> bool:
        """Snapshot changed units and merges, then commit offsets (atomically, exactly-once);
        False when the commit was deferred, or failed and a rewind is due."""
        committer, report = self.ctx.committer, self.ctx.report
        checkpoints = self.units.checkpoints()
        offsets = self.inputs.commit_offsets() + self.units.commit_offsets(checkpoints)
        committer.begin()
        merges = {
            p: (state, dict(self.units.merges[p].released)) for p, (_, state) in checkpoints.items()
        }
        report.snapshots += self.store.snapshot(committer.producer, merges, committer.on_delivery)
        try:
            committer.commit(offsets)
        except CommitDeferred as exc:
            log.warning("commit deferred, brokers unreachable: %s", exc)
            return False
        except AbortedTransaction as exc:
            log.warning("transaction aborted (%s): rewinding to the last commit", exc)
            self.rewind_due = True
            return False
        except DeliveryError as exc:
            log.warning("%s: rewinding to the last commit", exc)
            committer.abandon()
            self.rewind_due = True
            return False
        except MembershipLost as exc:
            log.warning(
                "the group dropped this worker (%s): rewinding to the last commit and rejoining",
                exc,
            )
            committer.abandon()
            self.rewind_due = True
            return False
        for partition, merge in self.units.merges.items():
            self.store.caught_up(merge.released, partition)
        report.commits += 1
        return True

    def rewind(self) -> None:
        """Consumption and the owned units back to the last commit."""
        assignment = self.consumer.assignment()
        committed = self.consumer.committed(assignment)
        for (topic, partition), position in committed.items():
            try:
                self.consumer.seek(topic, partition, self.consumer.start_offset(topic, position))
            except KafkaException as exc:  # no longer assigned (the group moved it)
                log.info("not rewinding %s[%d]: %s", topic, partition, exc)
        repartition = self.ctx.internal.repartition
        inputs = {tp: c for tp, c in committed.items() if tp[0] != repartition}
        self.inputs.reset(inputs, self.consumer)
        owned = sorted(self.units.merges)
        self.store.drop(owned)
        self.units.release(owned)
        self.units.own(self.store.restore(owned, self.ctx.input_partitions()))
        ends = self.ctx.ends
        for (topic, partition), position in committed.items():
            ends.progress[(topic, partition)] = max(position.offset, 0)
        ends.ends.pop(repartition, None)  # read again once the input is redone
        self.rewind_due = False
        self.ctx.report.rewinds += 1
