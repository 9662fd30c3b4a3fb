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
  commit, state included; a fenced producer (a newer instance took over) is fatal. While the
  brokers cannot be reached the commit is deferred (the transaction stays open). librdkafka's
  ``send_offsets_to_transaction`` can block past its timeout when the coordinator goes away
  mid-call (confluentinc/librdkafka#5456, #5511): such a call runs in a thread, and when it
  hangs the worker leaves that producer behind, fences it with a new one and rewinds. Should
  initialising or aborting a transaction hang, a watchdog ends the process (exit 70), because
  an orchestrator restart recovers exactly from the last commit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from detector.errors import DeliveryError, KafkaBoundaryError
from detector.kafka.clients import create_client, describe_error
from detector.kafka.consumer import lost_membership

log = logging.getLogger("detector.worker")
_TIMEOUT = 60.0
_CALL_TIMEOUT = 30.0  # transaction calls; a call still blocked 15 s later is deemed hung
_INIT_PATIENCE = 900.0  # seconds init_transactions is retried through an outage
_UNREACHABLE = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT}


WATCHDOG_EXIT = 70  # EX_SOFTWARE: a client call hung past every timeout


class AbortedTransaction(Exception):
    """The transaction was aborted: rewind consumption and state to the last commit."""


class CommitDeferred(Exception):
    """The brokers cannot be reached now: keep the transaction open and retry later."""


class MembershipLost(Exception):
    """The group no longer counts this worker as a member (its session expired during an
    outage): the partitions may be someone else's. Rewind to the last commit; the client
    rejoins and the group hands partitions out again."""


@contextmanager
def watchdog(what: str, seconds: float) -> Iterator[None]:
    """End the process if the block has not returned after ``seconds`` (a hung client call)."""

    def fire() -> None:
        log.critical(
            "%s still blocked after %.0f s (librdkafka#5456): exiting for a restart, which "
            "resumes exactly from the last commit",
            what,
            seconds,
        )
        logging.shutdown()
        os._exit(WATCHDOG_EXIT)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


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
        """Every record produced so far acknowledged: :class:`CommitDeferred` while the brokers
        do not answer, ``DeliveryError`` when a record was refused or timed out (the work since
        the last commit is then redone: the caller rewinds)."""
        remaining = self.producer.flush(_TIMEOUT)
        if self.failures:
            failures, self.failures = self.failures, []
            raise DeliveryError(
                f"{len(failures)} record(s) not delivered: {failures[:5]}; offsets were not "
                "committed, the work since the last commit is done again"
            )
        if remaining:
            raise CommitDeferred(f"{remaining} record(s) not acknowledged yet")

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
                if lost_membership(err):
                    raise MembershipLost(describe_error(err)) from exc
                if err.fatal():
                    raise KafkaBoundaryError(
                        f"offset commit failed: {describe_error(err)}"
                    ) from exc
                # A broker restart or coordinator move is transient: wait it out, then let the
                # loop turn (and try again at the next commit).
                if time.monotonic() > deadline:
                    raise CommitDeferred(describe_error(err)) from exc
                log.warning("offset commit failed, retrying: %s", describe_error(err))
                time.sleep(1.0)

    def abandon(self) -> None:
        """Drop uncommitted work (partitions lost): nothing to undo at-least-once."""


class TransactionalCommitter(Committer):
    """Exactly-once: alerts, snapshots and offsets in one transaction."""

    exactly_once = True

    def __init__(self, props: dict[str, Any], consumer: Consumer, probe: AdminClient) -> None:
        # Kept to build a replacement producer (same transactional.id); error_cb notes outages.
        self._props = {**props, "error_cb": self._on_error}
        self._probe = probe
        super().__init__(create_client(Producer, self._props), consumer)
        self._open = False
        self._unreachable = False  # the brokers went away since the last commit
        self._hung: list[tuple[threading.Thread, Producer]] = []
        self._init(self.producer)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in _UNREACHABLE:
            self._unreachable = True

    @staticmethod
    def _init(producer: Producer) -> None:
        """init_transactions, again while it fails retriably (brokers down, a coordinator
        loading) for up to _INIT_PATIENCE: an outage must not end the worker."""
        give_up = time.monotonic() + _INIT_PATIENCE
        while True:
            try:
                with watchdog("initialising transactions", 3 * _TIMEOUT):
                    producer.init_transactions(_TIMEOUT)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if not err.retriable() or time.monotonic() > give_up:
                    raise KafkaBoundaryError(
                        f"cannot initialise transactions: {describe_error(err)}"
                    ) from exc
                log.warning("initialising transactions: %s; trying again", describe_error(err))

    def _replace_producer(self, purge: bool = True) -> None:
        """A new producer with the same transactional.id: its init fences the old one and
        aborts the open transaction. After an outage, the old producer's cached coordinator
        can make send_offsets_to_transaction hang (librdkafka#5456, #5511)."""
        old = self.producer
        if purge:
            old.purge()
        self.producer = create_client(Producer, self._props)
        self._init(self.producer)
        self._open = False
        self._unreachable = False
        del old

    def _bounded(self, what: str, call: Callable[[], None]) -> None:
        """Run a transaction call that may hang past its own timeout in another thread; if it
        does, leave it (and its producer) behind and go on with a new producer."""
        outcome: list[BaseException] = []

        def target() -> None:
            try:
                call()
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=target, name=f"txn-{what}", daemon=True)
        thread.start()
        thread.join(_CALL_TIMEOUT + 15.0)
        if thread.is_alive():
            # Never destroyed: destroying a producer blocked in a call would block us too.
            self._hung.append((thread, self.producer))
            log.warning("%s hung (librdkafka#5456): replacing the producer", what)
            self._replace_producer(purge=False)
            raise AbortedTransaction(f"{what} hung: transaction replaced")
        if outcome:
            raise outcome[0]

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
            # Sending offsets while the coordinator is down can hang (librdkafka#5456): only
            # start when a broker answers, and with a fresh producer after an outage. Not
            # through the producer, which may never reconnect after a timed-out
            # send_offsets_to_transaction; not through the consumer either: this runs inside
            # its on_revoke, and consumer.list_topics() there makes the next rebalance
            # callback of the same consume() abort the process (confluent-kafka keeps one
            # call state per client and thread, and a nested call clears it).
            self._probe.list_topics(timeout=5.0)
            if self._unreachable:
                self._replace_producer()
                raise AbortedTransaction("the brokers were unreachable: transaction replaced")
            self.flush()
            if offsets:
                try:
                    group = self.consumer.consumer_group_metadata()
                except RuntimeError as exc:  # not a member right now (rejoining, closing)
                    self.abandon()
                    raise MembershipLost(str(exc)) from exc
                self._bounded(
                    "send_offsets_to_transaction",
                    lambda: self.producer.send_offsets_to_transaction(
                        offsets, group, _CALL_TIMEOUT
                    ),
                )
            self._bounded(
                "commit_transaction", lambda: self.producer.commit_transaction(_CALL_TIMEOUT)
            )
            self._open = False
        except KafkaException as exc:
            err = exc.args[0]
            if err.txn_requires_abort() or lost_membership(err):
                log.warning("transaction aborted: %s", describe_error(err))
                self.abandon()
                raise AbortedTransaction(describe_error(err)) from exc
            if err.retriable() or err.code() in _UNREACHABLE:
                self._unreachable = True
                raise CommitDeferred(describe_error(err)) from exc
            raise KafkaBoundaryError(f"transaction failed: {describe_error(err)}") from exc

    def abandon(self) -> None:
        if self._open:
            try:
                with watchdog("aborting the transaction", 3 * _TIMEOUT):
                    self.producer.abort_transaction(_TIMEOUT)
            except KafkaException as exc:
                # After an outage the transaction can be in a state abort refuses
                # (INVALID_TXN_STATE) or the producer in a fatal one: a new producer with the
                # same transactional.id fences this one and aborts its transaction.
                log.warning(
                    "cannot abort the transaction (%s): replacing the producer",
                    describe_error(exc.args[0]),
                )
                self._replace_producer()
            self._open = False
