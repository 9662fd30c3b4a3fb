"""Commits made from inside rebalance callbacks, against the real broker."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

MEMBER = Path(__file__).with_name("rebalance_member.py")


def _member(bootstrap: str, topic: str, group: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(MEMBER), bootstrap, topic, group, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # librdkafka's own log lines
        text=True,
    )


def test_transaction_commit_in_on_revoke_survives_the_following_assign(
    kafka_bootstrap: str, topic_factory: Any
) -> None:
    """A second member joins: the first commits in on_revoke and is reassigned in the same
    consume() call without the client aborting the process."""
    topic, group = topic_factory(4), f"rebalance-{uuid.uuid4().hex[:8]}"
    first = _member(kafka_bootstrap, topic, group, 25.0)
    time.sleep(8.0)  # the first member holds all four partitions
    second = _member(kafka_bootstrap, topic, group, 10.0)
    second_out, second_err = second.communicate(timeout=120)
    first_out, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_out + first_err
    assert second.returncode == 0, second_out + second_err
    lines = first_out.splitlines()
    # all four, then all four given up, then a share of them; back to four when the second
    # leaves, and the last revoke comes from close().
    assert lines[:3] == ["assigned 4", "revoked 4", "assigned 2"], first_out
    assert lines[-1] == "done", first_out
