"""Dead-letter records: the original key, value and timestamp, with the reason in headers.

Header names follow Kafka Connect's dead-letter convention, under our own prefix:
``drift.errors.topic``, ``.partition``, ``.offset`` (where the record came from),
``drift.errors.class`` (a reason code from :mod:`detector.events`) and ``drift.errors.message``.
"""

from __future__ import annotations

from detector.events import Rejection

HEADER_PREFIX = "drift.errors."


def dead_letter_headers(
    topic: str, partition: int, offset: int, rejection: Rejection
) -> list[tuple[str, str | bytes | None]]:
    """Headers that tell an operator where a rejected record came from and why."""
    return [
        (HEADER_PREFIX + "topic", topic.encode()),
        (HEADER_PREFIX + "partition", str(partition).encode()),
        (HEADER_PREFIX + "offset", str(offset).encode()),
        (HEADER_PREFIX + "class", rejection.reason.encode()),
        (HEADER_PREFIX + "message", rejection.message.encode("utf-8", errors="replace")[:1000]),
    ]
