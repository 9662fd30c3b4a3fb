"""A consumer-group member that commits a transaction from ``on_revoke``, as the worker does.

Run by ``test_rebalance_callbacks.py`` in its own process (a failure here aborts the
interpreter): ``python rebalance_member.py BOOTSTRAP TOPIC GROUP SECONDS``. Prints one line per
rebalance callback, then ``done``.
"""

from __future__ import annotations

import sys
import time
import uuid

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from detector.kafka.commits import TransactionalCommitter


def main(bootstrap: str, topic: str, group: str, seconds: float) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        }
    )
    producer = {
        "bootstrap.servers": bootstrap,
        "transactional.id": f"{group}-{uuid.uuid4().hex[:8]}",
        "transaction.timeout.ms": 10_000,
    }
    committer = TransactionalCommitter(
        producer, consumer, AdminClient({"bootstrap.servers": bootstrap})
    )

    def on_assign(_: Consumer, partitions: list[TopicPartition]) -> None:
        print("assigned", len(partitions), flush=True)

    def on_revoke(_: Consumer, partitions: list[TopicPartition]) -> None:
        committer.commit([])  # a real transaction commit inside the callback
        print("revoked", len(partitions), flush=True)

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        # A long timeout keeps the revoke and the following assign inside one consume() call.
        consumer.consume(10, timeout=3.0)
        committer.begin()
    consumer.close()
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
