"""How a worker makes its progress durable: at-least-once commits or Kafka transactions.

Both write, at each commit point, the state snapshots of the units changed since the last one
(:mod:`detector.kafka.state_store`) and then the consumer offsets:

- **at-least-once** (default): alerts are produced as they happen; at a commit point the producer
  is flushed (every alert, chunk, dead letter and snapshot acknowledged) and only then are the
  offsets committed. A crash replays from the last commit; alert ids are deterministic, so
  readers drop duplicates on (``source``, ``id``).
- **exactly-once**: one transaction per commit interval holds the alerts, chunks, dead letters,
  snapshots and the consumer offsets (``send_offsets_to_transaction``), so read_committed readers
  see all of it or none. A failed transaction is aborted and the worker rewinds to the last
  commit, state included; a fenced producer (a newer instance took over) is fatal.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from detector.errors import DeliveryError, KafkaBoundaryError
from detector.kafka.clients import describe_error

log = logging.getLogger("detector.worker")
_TIMEOUT = 60.0


class AbortedTransaction(Exception):
    """The transaction was aborted: rewind consumption and state to the last commit."""


class Committer:
    """At-least-once: flush, then commit offsets synchronously."""

    exactly_once = False

    def __init__(self, producer: Producer, consumer: Consumer) -> None:
        self.producer = producer
        self.consumer = consumer
        self.failures: list[str] = []

    def on_delivery(self, err: Any, message: Any) -> None:
        if err is not None:
            self.failures.append(f"{message.topic()}: {describe_error(err)}")

    def begin(self) -> None:
        """Start a unit of work (a transaction, exactly-once)."""

    def flush(self) -> None:
        remaining = self.producer.flush(_TIMEOUT)
        if remaining or self.failures:
            failures, self.failures = self.failures, []
            raise DeliveryError(
                f"{remaining} record(s) unacknowledged, failures: {failures[:5]}; "
                "offsets were not committed, the records will be consumed again"
            )

    def commit(self, offsets: list[TopicPartition]) -> None:
        self.flush()
        if not offsets:
            return
        deadline = time.monotonic() + _TIMEOUT
        while True:
            try:
                self.consumer.commit(offsets=offsets, asynchronous=False)
                return
            except KafkaException as exc:
                err = exc.args[0]
                # A broker restart or coordinator move is transient: wait it out.
                if err.fatal() or time.monotonic() > deadline:
                    raise KafkaBoundaryError(
                        f"offset commit failed: {describe_error(err)}"
                    ) from exc
                log.warning("offset commit failed, retrying: %s", describe_error(err))
                time.sleep(1.0)

    def abandon(self) -> None:
        """Drop uncommitted work (partitions lost): nothing to undo at-least-once."""


class TransactionalCommitter(Committer):
    """Exactly-once: alerts, snapshots and offsets in one transaction."""

    exactly_once = True

    def __init__(self, producer: Producer, consumer: Consumer) -> None:
        super().__init__(producer, consumer)
        self._open = False
        try:
            producer.init_transactions(_TIMEOUT)
        except KafkaException as exc:
            raise KafkaBoundaryError(
                f"cannot initialise transactions: {describe_error(exc.args[0])}"
            ) from exc

    def begin(self) -> None:
        if not self._open:
            self.producer.begin_transaction()
            self._open = True

    def flush(self) -> None:
        """Inside a transaction, flush is only for delivery errors; commit decides."""
        self.producer.flush(_TIMEOUT)
        if self.failures:
            self.abandon()
            failures, self.failures = self.failures, []
            raise AbortedTransaction(f"produce failed: {failures[:5]}")

    def commit(self, offsets: list[TopicPartition]) -> None:
        self.begin()
        try:
            self.flush()
            if offsets:
                self.producer.send_offsets_to_transaction(
                    offsets, self.consumer.consumer_group_metadata(), _TIMEOUT
                )
            self.producer.commit_transaction(_TIMEOUT)
            self._open = False
        except KafkaException as exc:
            err = exc.args[0]
            if err.txn_requires_abort():
                log.warning("transaction aborted: %s", describe_error(err))
                self.abandon()
                raise AbortedTransaction(describe_error(err)) from exc
            raise KafkaBoundaryError(f"transaction failed: {describe_error(err)}") from exc

    def abandon(self) -> None:
        if self._open:
            try:
                self.producer.abort_transaction(_TIMEOUT)
            except KafkaException as exc:
                raise KafkaBoundaryError(
                    f"cannot abort the transaction: {describe_error(exc.args[0])}"
                ) from exc
            self._open = False
