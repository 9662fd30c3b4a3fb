"""Worker processes for scale-out and crash tests: start, stop (SIGTERM or SIGKILL), wait for
the group to drain, and read the alerts a reader would see.

>>> callable(WorkerProcess) and callable(group_drained)
True
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import Consumer, TopicPartition

from detector.testing.kafka_io import consume_records


class WorkerProcess:
    """``drift-detector run`` in its own process (so it can be SIGKILLed)."""

    def __init__(self, config: dict[str, Any], workdir: Path, until_end: bool = False) -> None:
        path = workdir / f"worker-{uuid.uuid4().hex[:8]}.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log = path.with_suffix(".log")
        args = [sys.executable, "-m", "detector.cli", "run", "--config", str(path)]
        if until_end:
            args.append("--until-end")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)

    def terminate(self, deadline: float = 60.0) -> int:
        """SIGTERM, then wait: the worker drains, commits and exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(deadline)

    def kill(self) -> None:
        """SIGKILL: no drain, no commit, like a lost node."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def wait_for(self, text: str, deadline: float) -> None:
        """Wait until the worker's log shows ``text`` (it exited or the deadline passed: an
        error with its output)."""
        until = time.monotonic() + deadline
        while text not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > until:
                raise RuntimeError(f"worker never logged {text!r}:\n{self.output()}")
            time.sleep(0.05)

    def wait(self, deadline: float) -> int:
        try:
            return self.process.wait(deadline)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise RuntimeError(
                f"worker did not exit in {deadline:.0f} s:\n{self.output()}"
            ) from None

    def output(self) -> str:
        """The end of the worker's log, without librdkafka's own lines."""
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if not line.startswith("%"))[-4000:]


def group_drained(bootstrap: str, group: str, topics: list[str]) -> bool:
    """Whether ``group`` has committed every partition of ``topics`` up to its end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            parts = [TopicPartition(topic, p) for p in meta.partitions]
            committed = consumer.committed(parts, timeout=10)
            for tp in committed:
                _, high = consumer.get_watermark_offsets(tp, timeout=10)
                # A transaction's commit marker takes one offset past the last record.
                if high > 0 and tp.offset < high - 1:
                    return False
        return True
    finally:
        consumer.close()


def wait_drained(
    bootstrap: str,
    group: str,
    topics: list[str],
    deadline: float,
    workers: Sequence[WorkerProcess] = (),
) -> None:
    """Wait until ``group`` committed everything; on timeout, say what the workers printed."""
    until = time.monotonic() + deadline
    while not group_drained(bootstrap, group, topics):
        if time.monotonic() > until:
            tails = "\n---\n".join(f"exit {w.process.poll()}:\n{w.output()}" for w in workers)
            raise TimeoutError(f"group {group} did not drain {topics} in {deadline:.0f} s\n{tails}")
        time.sleep(1.0)


def committed_alerts(bootstrap: str, topic: str, expect_at_least: int = 0) -> list[Any]:
    """The alert events a read_committed reader sees, in topic order (all partitions)."""
    records = consume_records(
        bootstrap, topic, 10**9, isolation="read_committed", deadline=8.0 + expect_at_least / 100
    )
    return [orjson.loads(r.value() or b"") for r in records]
