"""What a worker run reports, and the record bookkeeping both stages share."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message, TopicPartition

from detector.errors import KafkaBoundaryError


@dataclass
class WorkerReport:
    """Totals of one ``run``, printed on exit."""

    records: int = 0
    alerts: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    series: int = 0
    labels: int = 0  # label records consumed (topics.labels)
    label_dead_letters: Counter[str] = field(default_factory=Counter)
    join: dict[str, Any] = field(default_factory=dict)  # the labels summary block
    commits: int = 0
    rewinds: int = 0  # aborted transactions rewound to the last commit (exactly-once)
    snapshots: int = 0  # unit states written to the changelog
    restored_units: int = 0  # unit states read back on assignment
    discarded_units: int = 0  # snapshots that could not be used (their units start afresh)
    restore_seconds: float = 0.0
    units_reset: int = 0  # units whose update raised: replaced by fresh ones
    enforced: int = 0  # times a merge went on without a source behind for processing.lag_wait


def where(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed record (never None for a real record)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise KafkaBoundaryError("consumed a record without topic, partition or offset")
    return topic, partition, offset


def next_offsets(records: list[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for record in records:
        topic, partition, offset = where(record)
        last[(topic, partition)] = max(last.get((topic, partition), -1), offset)
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def summary_line(report: WorkerReport) -> dict[str, Any]:
    """The end-of-run summary as a JSON-able dict."""
    return {
        "records": report.records,
        "alerts": report.alerts,
        "dead_letters": dict(report.dead_letters),
        "batches": report.batches,
        "series": report.series,
        "commits": report.commits,
        "rewinds": report.rewinds,
        "state": {
            "snapshots": report.snapshots,
            "restored_units": report.restored_units,
            "discarded_units": report.discarded_units,
            "restore_seconds": round(report.restore_seconds, 3),
            "units_reset": report.units_reset,
        },
        "order": {"enforced": report.enforced},
        **({"labels": report.join} if report.join else {}),
    }
