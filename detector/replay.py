"""Run the engine over a JSON-lines file: the same alerts as ``run`` gives on a Kafka topic.

Records are read in file order and cut into the same micro-batches the Kafka worker would use
(batching does not change alerts). Without ``event.time`` in the config, the line number stands in
for the event time (seconds since the epoch), as the Kafka record timestamp does for ``run``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import BinaryIO

import orjson

from detector.alerts import AlertEvent
from detector.config import Config
from detector.engine import Engine, build_engine
from detector.events import Decoder, Rejection


@dataclass
class ReplayReport:
    """What a replay saw, for the summary on stderr."""

    records: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    series: int = 0
    engine: Engine | None = None  # the engine after the replay (for the drift report)


def _batches(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    it = iter(lines)
    while batch := list(islice(it, size)):
        yield batch


def replay(
    config: Config,
    lines: Iterable[bytes],
    on_alert: Callable[[AlertEvent], None],
    on_rejection: Callable[[int, Rejection, bytes], None] | None = None,
) -> ReplayReport:
    """Feed ``lines`` (one JSON event each) through a fresh engine; call back for each alert.

    ``on_rejection`` gets the 1-based record number, the rejection and the raw line.
    """
    decoder, engine = Decoder(config), build_engine(config)
    report = ReplayReport()
    for batch in _batches(lines, config.run.batch_size):
        values = [line.rstrip(b"\r\n") for line in batch]
        first = report.records
        result = decoder.decode(values, [float(first + i + 1) for i in range(len(values))])
        report.records += len(values)
        for rejection in result.rejections:
            report.rejected[rejection.reason] += 1
            if on_rejection is not None:
                on_rejection(first + rejection.position + 1, rejection, values[rejection.position])
        for alert in engine.process(result.batch):
            report.alerts += 1
            on_alert(alert)
    report.series = len(engine.series)
    report.engine = engine
    return report


def read_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Non-blank lines of a binary stream."""
    for line in stream:
        if line.strip():
            yield line


def rejection_line(record: int, rejection: Rejection, value: bytes) -> bytes:
    """A dead-letter JSON line for a rejected input record (its text kept as a string)."""
    return orjson.dumps(
        {
            "record": record,
            "reason": rejection.reason,
            "message": rejection.message,
            "value": value.decode("utf-8", errors="replace"),
        }
    )
