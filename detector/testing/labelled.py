"""Seeded labelled streams: inference events, their delayed labels, and known error rates.

A binary classifier scores each event; its predicted class (score >= 0.5) is wrong with the
stream's error rate, which :class:`ErrorChange` can move from a point on, in all traffic or in
one segment. Labels carry the event id and their own event time (the prediction's plus a delay),
and come sorted by that time, as a label topic would hold them. Times are whole milliseconds, so
JSON (RFC 3339) and the direct batches carry the very same floats.

>>> stream = LabelledStream(segments={"country": {"DE": 1.0}}, label_delay=(0.0, 60.0))
>>> events, labels = stream.events(3), stream.labels(3)
>>> sorted(events[0]), sorted(labels[0])
(['event_id', 'features', 'prediction', 'segment', 'ts'], ['event_id', 'label', 'ts'])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector.alerts import AlertEvent, rfc3339
from detector.columns import Categories
from detector.engine import Engine
from detector.events import EventBatch
from detector.feed import Feed
from detector.order import LABEL_SOURCES
from detector.predictions import LabelBatch

EVENTS, LABELS = 0, 1  # the sides :meth:`LabelledStream.batches` yields

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class ErrorChange:
    """From stream index ``start`` on, predictions are wrong with probability ``rate``."""

    start: int
    rate: float
    segment: tuple[str, str] | None = None


@dataclass
class LabelledStream:
    """Segments drawn with fixed shares, one numeric feature, a score and a delayed label."""

    segments: dict[str, dict[str, float]] = field(
        default_factory=lambda: {"country": {"DE": 0.25, "FR": 0.25, "US": 0.25, "GB": 0.25}}
    )
    error_rate: float = 0.1
    positive_rate: float = 0.3
    seed: int = 0
    ms_per_event: int = 10
    label_delay: tuple[float, float] = (0.0, 0.0)  # uniform, seconds
    label_block: float | None = None  # labels of each block of this many seconds come at its end
    lost: float = 0.0  # share of labels that never arrive

    def columns(self, n: int, changes: Sequence[ErrorChange] = ()) -> dict[str, np.ndarray]:
        """Columns: ``time``, ``segment.<d>``, ``amount``, ``score``, ``predicted``, ``actual``,
        ``label_time`` and ``arrives`` (the label is ever sent)."""
        rng = np.random.default_rng(self.seed)
        time_ms = START_MS + np.arange(n, dtype=np.int64) * self.ms_per_event
        cols: dict[str, np.ndarray] = {"time": time_ms / 1000.0}
        for name, shares in self.segments.items():
            values = np.asarray(list(shares))
            p = np.asarray(list(shares.values()))
            cols[f"segment.{name}"] = values[rng.choice(len(values), size=n, p=p / p.sum())]
        rate = np.full(n, self.error_rate)
        index = np.arange(n)
        for change in changes:
            mask = index >= change.start
            if change.segment is not None:
                mask &= cols[f"segment.{change.segment[0]}"] == change.segment[1]
            rate[mask] = change.rate
        actual = rng.random(n) < self.positive_rate
        predicted = actual ^ (rng.random(n) < rate)
        u = rng.random(n)
        cols["score"] = np.round(np.where(predicted, 0.5 + 0.5 * u, 0.5 * u), 6)
        cols["predicted"], cols["actual"] = predicted, actual
        cols["amount"] = np.round(rng.normal(100.0, 20.0, n), 4)
        low, high = self.label_delay
        delay_ms = np.round(rng.uniform(low, high, n) * 1000).astype(np.int64)
        label_ms = time_ms + delay_ms
        if self.label_block is not None:
            block = int(self.label_block * 1000)
            label_ms = START_MS + ((time_ms - START_MS) // block + 1) * block
        cols["label_time"] = label_ms / 1000.0
        cols["arrives"] = rng.random(n) >= self.lost
        return cols

    def events(self, n: int, changes: Sequence[ErrorChange] = ()) -> list[dict[str, Any]]:
        """The inference events as JSON objects, in stream order."""
        cols = self.columns(n, changes)
        seg = {name: cols[f"segment.{name}"].tolist() for name in self.segments}
        return [
            {
                "event_id": f"e-{self.seed}-{i}",
                "ts": rfc3339(t),
                "segment": {name: values[i] for name, values in seg.items()},
                "features": {"amount": amount},
                "prediction": {"score": score},
            }
            for i, (t, amount, score) in enumerate(
                zip(
                    cols["time"].tolist(),
                    cols["amount"].tolist(),
                    cols["score"].tolist(),
                    strict=True,
                )
            )
        ]

    def labels(self, n: int, changes: Sequence[ErrorChange] = ()) -> list[dict[str, Any]]:
        """The labels that arrive, as JSON objects sorted by their event time."""
        cols = self.columns(n, changes)
        order = _label_order(cols)
        times, actual = cols["label_time"], cols["actual"]
        return [
            {"event_id": f"e-{self.seed}-{i}", "ts": rfc3339(times[i]), "label": int(actual[i])}
            for i in order.tolist()
        ]

    def batches(
        self, n: int, changes: Sequence[ErrorChange] = (), size: int = 5000
    ) -> Iterator[tuple[int, EventBatch | LabelBatch]]:
        """Both streams as decoded batches of ``size`` rows, each stream in its own order
        (``EVENTS`` then ``LABELS`` chunks, alternating), skipping JSON."""
        cols = self.columns(n, changes)
        ids = [f"e-{self.seed}-{i}" for i in range(n)]
        order = _label_order(cols)
        for start in range(0, max(n, len(order)), size):
            part = slice(start, min(start + size, n))
            if part.start < n:
                yield EVENTS, self._event_batch(cols, ids, part)
            chosen = order[start : start + size]
            if len(chosen):
                values = ["1" if a else "0" for a in cols["actual"][chosen].tolist()]
                positions = list(range(len(chosen)))
                chosen_ids = [ids[i] for i in chosen.tolist()]
                times = cols["label_time"][chosen]
                yield LABELS, LabelBatch(positions, times, chosen_ids, list(values))

    def _event_batch(self, cols: dict[str, np.ndarray], ids: list[str], part: slice) -> EventBatch:
        count = part.stop - part.start
        no_errors = np.zeros(count, dtype=bool)
        return EventBatch(
            positions=list(range(count)),
            times=cols["time"][part],
            ids=list(ids[part]),
            segments={
                d: Categories.from_values(cols[f"segment.{d}"][part].tolist())
                for d in self.segments
            },
            numeric={"amount": cols["amount"][part], "prediction": cols["score"][part]},
            type_errors={"amount": no_errors, "prediction": no_errors},
            categorical={},
        )

    def config(
        self, model: str = "labelled", topics: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """A config (as parsed YAML) reading these events and labels."""
        return {
            "model": model,
            "topics": topics or {"events": "events", "alerts": "alerts", "dead_letter": "dlq"},
            "event": {"id": "event_id", "time": "ts"},
            "segments": [{"name": name, "path": f"segment.{name}"} for name in self.segments],
            "features": [{"name": "amount", "path": "features.amount", "type": "numeric"}],
            "prediction": {"path": "prediction.score", "type": "numeric", "threshold": 0.5},
            "label": {"path": "label", "type": "binary"},
        }


def _label_order(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Indexes of the labels that arrive, by label time (stable: stream order on ties)."""
    sent = np.flatnonzero(cols["arrives"])
    return sent[np.argsort(cols["label_time"][sent], kind="stable")]


def feed(engine: Engine, chunks: Iterator[tuple[int, EventBatch | LabelBatch]]) -> list[AlertEvent]:
    """Push both streams' chunks through the merge into ``engine``, as replay does."""
    merged = Feed(engine, [0, LABEL_SOURCES])
    alerts: list[AlertEvent] = []
    for side, batch in chunks:
        if side == EVENTS:
            assert isinstance(batch, EventBatch)
            alerts += merged.events(batch)
        else:
            assert isinstance(batch, LabelBatch)
            alerts += merged.labels(batch)
    alerts += merged.end(0)
    alerts += merged.end(LABEL_SOURCES)
    return alerts
