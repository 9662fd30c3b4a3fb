"""Events and labels of any number of sources into one engine, in key order.

What ``replay`` does with its files, and what the Kafka worker does in two stages (stage one
keys and slices each batch, stage two merges the slices and applies them): each decoded batch
gets its keys (:mod:`detector.order`), becomes a slice, goes through the merge
(:class:`~detector.merge.OrderedMerge`), and what the merge releases is applied. So the same
events and labels give the same alerts in ``replay``, in ``run`` and here, however they were
batched.

>>> from detector.config import parse_config
>>> from detector.testing.synthetic import SyntheticStream, config_dict, event_batches
>>> stream = SyntheticStream(numeric=["amount"], categorical={}, segments={})
>>> config = parse_config(config_dict(stream))
>>> feed = Feed(Engine(config), sources=[0])
>>> alerts = [a for b in event_batches(stream, 3000) for a in feed.events(b)]
>>> feed.engine.stats.events, alerts
(3000, [])
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from detector.alerts import AlertEvent
from detector.engine import Engine
from detector.events import EventBatch
from detector.merge import OrderedMerge
from detector.order import LABEL_SOURCES, Keys, partition_times
from detector.predictions import LabelBatch


class Feed:
    """Batches of ``sources`` (events source 0, labels ``LABEL_SOURCES`` by default) in, alerts
    out as the merge releases rows. A source's batches must come in its own order."""

    def __init__(
        self,
        engine: Engine,
        sources: Iterable[int] = (0,),
        idle_wait: float = 0.0,
        lag_wait: float = math.inf,
    ) -> None:
        self.engine = engine
        self.merge = OrderedMerge(sources, idle_wait, lag_wait)
        self._ptimes: dict[int, float] = {}
        self._offsets: dict[int, int] = {}

    def keys(self, source: int, times: np.ndarray, offsets: np.ndarray | None = None) -> Keys:
        """The keys of a source's next rows (``offsets`` default: counted from 0)."""
        n = len(times)
        if offsets is None:
            start = self._offsets.get(source, 0)
            offsets = start + np.arange(n, dtype=np.int64)
        if n:
            self._offsets[source] = int(offsets[-1]) + 1
        sources = np.full(n, source, np.int32)
        return Keys(partition_times(sources, times, self._ptimes), sources, offsets)

    def push_events(
        self, batch: EventBatch, source: int = 0, offsets: np.ndarray | None = None
    ) -> None:
        """Queue a batch of ``source``'s events in the merge."""
        if batch.size:
            self.merge.push(
                self.engine.splitter.slice(batch, self.keys(source, batch.times, offsets))
            )

    def push_labels(
        self, batch: LabelBatch, source: int = LABEL_SOURCES, offsets: np.ndarray | None = None
    ) -> None:
        """Queue a batch of ``source``'s labels in the merge."""
        if batch.size:
            keys = self.keys(source, batch.times, offsets)
            self.merge.push(self.engine.splitter.label_slice(batch, keys))

    def events(
        self, batch: EventBatch, source: int = 0, offsets: np.ndarray | None = None
    ) -> list[AlertEvent]:
        """A batch of ``source``'s events; the alerts of whatever the merge releases."""
        self.push_events(batch, source, offsets)
        return self.release()

    def labels(
        self, batch: LabelBatch, source: int = LABEL_SOURCES, offsets: np.ndarray | None = None
    ) -> list[AlertEvent]:
        """A batch of ``source``'s labels; the alerts of whatever the merge releases."""
        self.push_labels(batch, source, offsets)
        return self.release()

    def end(self, source: int) -> list[AlertEvent]:
        """``source`` has no more rows: the others need not wait for it."""
        self.merge.end(source)
        return self.release()

    def release(self, now: float = 0.0) -> list[AlertEvent]:
        """Apply what the merge releases (all of it at once, as the worker's stage two does)."""
        splitter = self.engine.splitter
        chunks = [c for part in self.merge.release(now) for c in splitter.chunks(part)]
        return self.engine.applier.apply(chunks) if chunks else []

    def waiting(self, source: int) -> bool:
        """Whether the merge waits for ``source``: its bound is the smallest of all."""
        key = self.merge.bounds.get(source)
        if key is None:
            return True
        others = [b.key for s, b in self.merge.bounds.items() if s != source and not b.at_end]
        return not others or key.key <= min(others)
