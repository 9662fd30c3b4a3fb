"""The bounded store where a prediction waits for its label, and a label for its prediction.

Everything runs on event time, never the wall clock, so a replay joins exactly like a run:

- the *clock* is the newest event time seen on either stream;
- each record first advances the clock; every waiting half whose own event time is more than
  ``ttl`` behind the clock then leaves the store (a prediction is *expired*, a label
  *unmatched*);
- then the record meets its other half if that is waiting, and the pair is emitted at once: a
  pair is emitted when its second half arrives, in arrival order. Otherwise the record waits,
  unless it is already more than ``ttl`` behind the clock itself;
- at most ``max_pending`` halves wait. When the store is full, the half with the oldest event
  time leaves to make room (a prediction is *evicted*, a label *unmatched*);
- a half whose id is already waiting on the same side is a *duplicate* (at-least-once
  redelivery) and is dropped; the first one stays.

So ``predictions = matched + expired + evicted + duplicates + pending`` and
``labels = matched + unmatched + duplicates + pending``, counted per side.

>>> store = JoinStore(max_pending=10, ttl=60.0)
>>> store.add_prediction("a", 0.0, ("DE",), "1", 0.9) is None
True
>>> store.add_label("a", 30.0, "0")
(30.0, 0.0, ('DE',), '1', '0', 0.9, None)
>>> store.add_prediction("b", 31.0, ("FR",), "0", 0.1), store.add_label("b", 92.0, "0")
(None, None)
>>> store.stats.matched, store.stats.expired_predictions, store.stats.pending_labels
(1, 1, 1)
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass
from typing import Any

from detector.predictions import Value

# (completion time, prediction time, segment values, predicted, actual, score, class
# probabilities: a list of floats with prediction.probabilities, else None)
Probabilities = list[float] | None
Pair = tuple[float, float, tuple[str, ...], Value, Value, float, Probabilities]
_PREDICTION, _LABEL = 0, 1


@dataclass
class JoinStats:
    """Counters of the join, for the run and replay summaries and the metrics endpoint."""

    predictions: int = 0  # predictions offered to the join (with an id and a value)
    labels: int = 0  # labels offered to the join
    matched: int = 0
    expired_predictions: int = 0  # no label within ttl
    evicted_predictions: int = 0  # dropped because the store was full
    unmatched_labels: int = 0  # no prediction within ttl, or dropped when full
    duplicates: int = 0
    pending_predictions: int = 0
    pending_labels: int = 0
    peak_pending: int = 0  # the most halves that ever waited at once
    unusable_predictions: int = 0  # events without an id or a prediction: never joined

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class JoinStore:
    """Waiting halves by id, with a heap of their event times for expiry and eviction."""

    def __init__(self, max_pending: int, ttl: float) -> None:
        self.max_pending = max_pending
        self.ttl = ttl
        self.clock = float("-inf")
        self.stats = JoinStats()
        # id -> (seq, time, segments, predicted, score, probabilities) / (seq, time, label)
        self._predictions: dict[
            str, tuple[int, float, tuple[str, ...], Value, float, Probabilities]
        ] = {}
        self._labels: dict[str, tuple[int, float, Value]] = {}
        self._heap: list[tuple[float, int, int, str]] = []  # (time, seq, side, id); lazy
        self._seq = 0

    def add_prediction(
        self,
        ident: str,
        when: float,
        segments: tuple[str, ...],
        predicted: Value,
        score: float,
        probabilities: Probabilities = None,
    ) -> Pair | None:
        """Offer a prediction; return the pair if its label was waiting."""
        stats = self.stats
        stats.predictions += 1
        if when > self.clock or (self._heap and self._heap[0][0] < self.clock - self.ttl):
            self._advance(when)
        label = self._labels.pop(ident, None)
        if label is not None:
            stats.matched += 1
            stats.pending_labels -= 1
            return (when, when, segments, predicted, label[2], score, probabilities)
        if ident in self._predictions:
            stats.duplicates += 1
        elif when < self.clock - self.ttl:
            stats.expired_predictions += 1
        else:
            self._add(_PREDICTION, ident, when, (segments, predicted, score, probabilities))
            stats.pending_predictions += 1
        return None

    def add_label(self, ident: str, when: float, value: Value) -> Pair | None:
        """Offer a label; return the pair if its prediction was waiting."""
        stats = self.stats
        stats.labels += 1
        if when > self.clock or (self._heap and self._heap[0][0] < self.clock - self.ttl):
            self._advance(when)
        prediction = self._predictions.pop(ident, None)
        if prediction is not None:
            stats.matched += 1
            stats.pending_predictions -= 1
            _, at, segments, predicted, score, probabilities = prediction
            return (when, at, segments, predicted, value, score, probabilities)
        if ident in self._labels:
            stats.duplicates += 1
        elif when < self.clock - self.ttl:
            stats.unmatched_labels += 1
        else:
            self._add(_LABEL, ident, when, (value,))
            stats.pending_labels += 1
        return None

    def _add(self, side: int, ident: str, when: float, rest: tuple[Any, ...]) -> None:
        """Keep a half waiting: room made first, then stored and indexed by time."""
        pending = len(self._predictions) + len(self._labels)
        if pending >= self.max_pending:
            self._make_room()
            pending = len(self._predictions) + len(self._labels)
        self._seq += 1
        held: dict[str, Any] = self._predictions if side == _PREDICTION else self._labels
        held[ident] = (self._seq, when, *rest)
        self._push(when, side, ident, pending + 1)
        if pending + 1 > self.stats.peak_pending:
            self.stats.peak_pending = pending + 1

    def _push(self, when: float, side: int, ident: str, pending: int) -> None:
        heapq.heappush(self._heap, (when, self._seq, side, ident))
        # Matched halves leave stale entries behind: drop them once they are most of the heap
        # (each compaction then pays for the pushes since the last one, a few lookups each).
        if len(self._heap) > 4 * pending + 4096:
            self._heap = [entry for entry in self._heap if self._live(entry)]
            heapq.heapify(self._heap)

    @property
    def pending(self) -> int:
        return len(self._predictions) + len(self._labels)

    def _live(self, entry: tuple[float, int, int, str]) -> bool:
        _, seq, side, ident = entry
        held: Any = (self._predictions if side == _PREDICTION else self._labels).get(ident)
        return held is not None and held[0] == seq

    def _drop(self, entry: tuple[float, int, int, str], evicted: bool) -> None:
        _, _, side, ident = entry
        if side == _PREDICTION:
            del self._predictions[ident]
            self.stats.pending_predictions -= 1
            if evicted:
                self.stats.evicted_predictions += 1
            else:
                self.stats.expired_predictions += 1
        else:
            del self._labels[ident]
            self.stats.pending_labels -= 1
            self.stats.unmatched_labels += 1

    def _advance(self, when: float) -> None:
        if when > self.clock:
            self.clock = when
        horizon = self.clock - self.ttl
        heap = self._heap
        while heap and heap[0][0] < horizon:
            entry = heapq.heappop(heap)
            if self._live(entry):
                self._drop(entry, evicted=False)

    def _make_room(self) -> None:
        heap = self._heap
        while self.pending >= self.max_pending and heap:
            entry = heapq.heappop(heap)
            if self._live(entry):
                self._drop(entry, evicted=True)
