"""Run the engine over a JSON-lines file: the same alerts as ``run`` gives on a Kafka topic.

Records are read in file order and cut into the same micro-batches the Kafka worker would use
(batching does not change alerts). Without ``event.time`` in the config, the line number stands in
for the event time (seconds since the epoch), as the Kafka record timestamp does for ``run``.

Records go through :class:`~detector.feed.Feed`, the key order ``run`` uses too
(:mod:`detector.order`). With a labels file (``replay --labels``) that merges the two files:
whichever file's next record has the smaller partition time goes first (events on a tie), each
file in its own order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import BinaryIO

import numpy as np
import orjson

from detector.alerts import AlertEvent
from detector.config import Config
from detector.engine import Engine, build_engine
from detector.errors import ConfigError
from detector.events import Decoder, EventBatch, Rejection
from detector.feed import Feed
from detector.labels.decode import LabelDecoder
from detector.order import LABEL_SOURCES

EVENTS = 0  # the events file's source


@dataclass
class ReplayReport:
    """What a replay saw, for the summary on stderr."""

    records: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    series: int = 0
    engine: Engine | None = None  # the engine after the replay (for the drift report)
    labels: int = 0  # label records read (replay --labels)
    labels_rejected: Counter[str] = field(default_factory=Counter)


def line_batches(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    """Lines in lists of ``size`` (the last shorter)."""
    it = iter(lines)
    while batch := list(islice(it, size)):
        yield batch


def replay(
    config: Config,
    lines: Iterable[bytes],
    on_alert: Callable[[AlertEvent], None],
    on_rejection: Callable[[int, Rejection, bytes], None] | None = None,
    labels: Iterable[bytes] | None = None,
) -> ReplayReport:
    """Feed ``lines`` (one JSON event each) through a fresh engine; call back for each alert.

    ``on_rejection`` gets the 1-based record number, the rejection and the raw line (events
    only). ``labels``: label records (one JSON object each, in the order of the label topic).
    """
    if labels is not None and config.label is None:
        raise ConfigError("--labels: the config has no label section (label.path)")
    decoder, engine = Decoder(config), build_engine(config)
    report = ReplayReport(engine=engine)
    sources = [EVENTS] if labels is None else [EVENTS, LABEL_SOURCES]
    feed = Feed(engine, sources)
    size = config.run.batch_size
    inputs = {EVENTS: line_batches(lines, size)}
    label_decoder = None
    if labels is not None:
        inputs[LABEL_SOURCES] = line_batches(labels, size)
        label_decoder = LabelDecoder(config)
    for alert in read_merged(feed, inputs, decoder, label_decoder, report, on_rejection):
        report.alerts += 1
        on_alert(alert)
    report.series = len(engine.series)
    return report


def read_merged(
    feed: Feed,
    inputs: dict[int, Iterator[list[bytes]]],
    decoder: Decoder,
    label_decoder: LabelDecoder | None,
    report: ReplayReport,
    on_rejection: Callable[[int, Rejection, bytes], None] | None,
) -> Iterator[AlertEvent]:
    """Read the sources' chunks (events, and labels at ``LABEL_SOURCES``) into ``feed``,
    always from the one its merge waits for, until every source is exhausted; the alerts of
    each step, in order. What ``replay`` and :class:`detector.api.Monitor` run."""
    live = set(inputs)
    while live:
        for source in sorted(live):
            if not feed.waiting(source) and len(live) > 1:
                continue  # read the file the merge waits for
            chunk = next(inputs[source], None)
            if chunk is None:
                live.discard(source)
                yield from feed.end(source)
            elif source == EVENTS:
                first = report.records
                batch = decode_events(decoder, chunk, report, on_rejection)
                yield from feed.events(batch, EVENTS, first + np.asarray(batch.positions, np.int64))
            else:
                assert label_decoder is not None
                values = _values(chunk, label_decoder.format.is_json)
                first = report.labels
                decoded = label_decoder.decode(
                    values, [float(first + i + 1) for i in range(len(values))]
                )
                report.labels += len(values)
                report.labels_rejected.update(r.reason for r in decoded.rejections)
                offsets = first + np.asarray(decoded.batch.positions, np.int64)
                yield from feed.labels(decoded.batch, LABEL_SOURCES, offsets)


def decode_events(
    decoder: Decoder,
    chunk: list[bytes],
    report: ReplayReport,
    on_rejection: Callable[[int, Rejection, bytes], None] | None,
) -> EventBatch:
    """Decode one chunk of event lines (line number = event time), counting rejections."""
    values = _values(chunk, decoder.format.is_json)
    first = report.records
    result = decoder.decode(values, [float(first + i + 1) for i in range(len(values))])
    report.records += len(values)
    for rejection in result.rejections:
        report.rejected[rejection.reason] += 1
        if on_rejection is not None:
            on_rejection(first + rejection.position + 1, rejection, values[rejection.position])
    return result.batch


def _values(chunk: list[bytes], lines: bool) -> list[bytes]:
    """Record values of a chunk: JSON lines lose their line end; binary records (Avro,
    Protobuf) are kept byte for byte, a trailing 0x0a may be their data."""
    return [line.rstrip(b"\r\n") for line in chunk] if lines else chunk


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
