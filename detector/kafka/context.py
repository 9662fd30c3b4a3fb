"""What both stages of a worker share: one object instead of long constructor lists.

The config, the internal topics and the input topics' partition counts, the
committer (whose producer every record goes through, replaced after a fenced transaction),
the report and metrics, the end offsets of ``--until-end``, and where dead letters go.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Message, Producer

from detector.config import Config
from detector.events import Rejection
from detector.kafka.clients import produce
from detector.kafka.commits import Committer
from detector.kafka.dead_letter import dead_letter_record
from detector.kafka.ends import EndOffsets
from detector.kafka.internal import InternalTopics
from detector.kafka.report import WorkerReport, where
from detector.observability.metrics import WorkerMetrics
from detector.order import LABEL_SOURCES


@dataclass
class WorkerContext:
    config: Config
    internal: InternalTopics
    events_partitions: int
    labels_partitions: int  # 0 without a labels topic
    committer: Committer
    report: WorkerReport
    metrics: WorkerMetrics
    ends: EndOffsets
    dead_letter_limit: int

    @property
    def producer(self) -> Producer:
        return self.committer.producer

    def source(self, topic: str, partition: int) -> int:
        """The key source of an input partition (:mod:`detector.order`)."""
        return partition + (LABEL_SOURCES if topic == self.config.kafka_topics.labels else 0)

    def input_partitions(self) -> dict[int, tuple[str, int]]:
        """Every input partition by its source."""
        topics = self.config.kafka_topics
        found = {p: (topics.events, p) for p in range(self.events_partitions)}
        if topics.labels is not None:
            found |= {LABEL_SOURCES + p: (topics.labels, p) for p in range(self.labels_partitions)}
        return found

    def sources(self, performance: bool) -> set[int]:
        """The sources whose rows reach a repartition partition (labels only the one that
        owns the performance unit)."""
        found = set(range(self.events_partitions))
        if performance:
            found |= {LABEL_SOURCES + p for p in range(self.labels_partitions)}
        return found

    def dead_letter(self, record: Message, rejection: Rejection) -> None:
        """A rejected record to the dead-letter topic, cut to fit it if need be."""
        topic, partition, offset = where(record)
        letter = dead_letter_record(
            record.key(),
            record.value(),
            record.timestamp()[1],
            topic,
            partition,
            offset,
            rejection,
            self.dead_letter_limit,
        )
        produce(
            self.producer,
            self.config.kafka_topics.dead_letter,
            key=letter.key,
            value=letter.value,
            timestamp=letter.timestamp,
            headers=letter.headers,
            on_delivery=self.committer.on_delivery,
        )
        if topic == self.config.kafka_topics.labels:
            self.report.label_dead_letters[rejection.reason] += 1
        else:
            self.report.dead_letters[rejection.reason] += 1
