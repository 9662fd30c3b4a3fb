"""Rows of many sources, released in key order (:mod:`detector.order`) as far as they can be.

Slices come in as the sources deliver them: each source's rows in its own order, sources
interleaved however the records arrived (several stage-one workers write to one repartition
partition; ``replay`` reads two files). :meth:`OrderedMerge.release` hands out, in key order,
every queued row whose key is below every source's :class:`~detector.order.Bound`, so what a
unit applies does not depend on arrival order.

A source that has not caught up holds the others back, as in Kafka Streams:

- one *at its end* (no more rows for now) holds them for ``idle_wait`` seconds (Kafka
  Streams' ``max.task.idle.ms``, default 0: a quiet partition never delays the others);
- one *behind* (its rows exist but have not arrived: a worker catching up, restarting or
  rebalancing, or a source never heard of yet) holds them for ``lag_wait`` seconds; after
  that the others go on without it ("enforced processing", counted in ``enforced``).

Rows at or below what was already received from a source are dropped: a new owner of a
partition resends from its last commit. :meth:`OrderedMerge.checkpoint` gives the position to
commit (the first record still holding rows) and the state as of that position, which a
restarted merge resumes from.

>>> from detector.order import Bound
>>> def part(source, offsets, times):
...     n = len(offsets)
...     keys = Keys(np.array(times, float), np.full(n, source, np.int32), np.array(offsets))
...     return Slice(np.arange(n), np.array(times, float), {}, {}, {}, {}, keys=keys)
>>> merge = OrderedMerge([0, 1])
>>> merge.push(part(0, [0, 1, 2], [1.0, 3.0, 5.0]))
>>> [s.keys.offsets.tolist() for s in merge.release()]  # source 1 unheard of: wait
[]
>>> merge.push(part(1, [0, 1], [2.0, 4.0]))
>>> [s.keys.sources.tolist() for s in merge.release()]  # 5.0 waits for source 1's next
[[0, 1, 0, 1]]
>>> merge.end(1)
>>> [s.keys.offsets.tolist() for s in merge.release()]
[[2]]
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from detector.order import NO_TIME, Bound, Key, Keys
from detector.slices import PerformanceTape, Slice, concat_slices, in_key_order, take_rows

_LAST: Key = (math.inf, 0, 0)


@dataclass
class MergeState:
    """Where a merge stands at a commit: each source's bound and next offset received."""

    bounds: dict[int, Bound] = field(default_factory=dict)
    received: dict[int, int] = field(default_factory=dict)

    def copy(self) -> MergeState:
        return MergeState(dict(self.bounds), dict(self.received))


@dataclass
class _Record:
    tag: int | None
    part: Slice
    bounds: list[Bound]
    received: dict[int, int]
    cursor: int = 0  # events released
    tape_cursor: int = 0  # tape rows released
    rows: tuple[dict[int, np.ndarray], dict[int, np.ndarray]] | None = None  # see held()

    @property
    def done(self) -> bool:
        tape = self.part.performance
        return self.cursor == self.part.size and (tape is None or self.tape_cursor == tape.size)

    def by_source(self) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """The indexes of each source's events, and of its labels on the tape (built once)."""
        if self.rows is None:
            tape = self.part.performance
            labels = np.flatnonzero(tape.is_label) if tape is not None else np.empty(0, np.int64)
            self.rows = (
                _groups(self.part.keys.sources, np.arange(self.part.size)),
                _groups(tape.keys.sources[labels], labels) if tape is not None else {},
            )
        return self.rows


def _groups(sources: np.ndarray, rows: np.ndarray) -> dict[int, np.ndarray]:
    """``rows`` by their source, each group ascending."""
    if not len(rows):
        return {}
    order = np.argsort(sources, kind="stable")
    found, starts = np.unique(sources[order], return_index=True)
    bounds = [*starts.tolist(), len(order)]
    return {s: rows[order[bounds[i] : bounds[i + 1]]] for i, s in enumerate(found.tolist())}


def _lasts(keys: Keys) -> dict[int, tuple[float, int]]:
    """Each source's last row in ``keys`` (a source's rows are in offset order): its partition
    time and offset."""
    n = len(keys)
    if not n:
        return {}
    first = int(keys.sources[0])
    if keys.sources[-1] == first and bool((keys.sources == first).all()):
        return {first: (float(keys.ptimes[-1]), int(keys.offsets[-1]))}
    found, back = np.unique(keys.sources[::-1], return_index=True)
    rows = (n - 1 - back).tolist()
    return {
        s: (float(keys.ptimes[r]), int(keys.offsets[r]))
        for s, r in zip(found.tolist(), rows, strict=True)
    }


def _last_offsets(keys: Keys, into: dict[int, int]) -> None:
    """Raise ``into[source]`` to one past each source's last offset in ``keys``."""
    for source, (_, offset) in _lasts(keys).items():
        if offset + 1 > into.get(source, 0):
            into[source] = offset + 1


class OrderedMerge:
    """The merge of the slices of ``sources`` (the ones rows may come from)."""

    def __init__(
        self,
        sources: Iterable[int],
        idle_wait: float = 0.0,
        lag_wait: float = math.inf,
        state: MergeState | None = None,
        apart: bool = True,
    ) -> None:
        self.sources = set(sources)
        # Whether a release may hand the tape apart from the events (see _with_merged_tape):
        # fine for rows applied at once, not for rows sent on, whose predictions and events
        # must stay in one slice.
        self.apart = apart
        self.idle_wait = idle_wait
        self.lag_wait = lag_wait
        base = state.copy() if state is not None else MergeState()
        self.bounds = dict(base.bounds)
        self.received = dict(base.received)
        self.released = dict(base.received)  # next offset per source handed out
        self.rows = 0  # the next sequence number
        self.enforced = 0  # times the others went on without a source that was behind
        self.last_enforced: list[int] = []
        self._base = base
        self._records: deque[_Record] = deque()
        self._holding_since: dict[int, float] = {}
        self._passed: set[int] = set()  # behind sources passed over since their last move
        self._held: dict[int, tuple[Key, int]] | None = None  # held(), until rows move

    # -- input ---------------------------------------------------------------------------------

    def push(self, part: Slice, tag: int | None = None) -> None:
        """Queue a slice (its rows and tape in key order); ``tag``: the caller's position of
        it (a record offset), reported by :meth:`checkpoint` while it holds rows."""
        self._held = None
        part = self._fresh(part)
        received: dict[int, int] = {}
        # The rows say where their sources are at least; the sender's bounds (after them, so
        # they win a tie) may say more: later offsets, or that a source is at its end.
        bounds: list[Bound] = []
        for keys in (part.keys, *([part.performance.keys] if part.performance else [])):
            for source, (ptime, offset) in _lasts(keys).items():
                received[source] = max(received.get(source, 0), offset + 1)
                bounds.append(Bound(ptime, source, offset + 1))
        for source, offset in received.items():
            self.received[source] = max(self.received.get(source, 0), offset)
        bounds += part.bounds
        for bound in bounds:
            self._bound(bound)
        self._records.append(_Record(tag, part, bounds, received))
        self._fold()

    def end(self, source: int, at_end: bool = True) -> None:
        """``source`` has no more rows for now (a file exhausted), or has again."""
        known = self.bounds.get(source, Bound(NO_TIME, source, 0))
        self._bound(Bound(known.ptime, source, known.offset, at_end), force=True)

    def _bound(self, bound: Bound, force: bool = False) -> None:
        known = self.bounds.get(bound.source)
        new = bound if known is None or force else known.advanced(bound)
        if new != known:
            self.bounds[bound.source] = new
            self._holding_since.pop(bound.source, None)
            self._passed.discard(bound.source)

    def _fresh(self, part: Slice) -> Slice:
        """``part`` without rows already received (a new owner's resent records)."""
        if not self.received:
            return part
        keep = _unseen(part.keys, self.received)
        tape = part.performance
        tape_keep = _unseen(tape.keys, self.received) if tape is not None else None
        if keep is None and tape_keep is None:
            return part
        index = np.flatnonzero(keep) if keep is not None else slice(None)
        tape_index: np.ndarray | slice | None = None
        if tape is not None:
            tape_index = np.flatnonzero(tape_keep) if tape_keep is not None else slice(None)
        fresh = take_rows(part, index, tape_index)
        fresh.bounds = part.bounds
        return fresh

    def expect(self, bound: Bound) -> None:
        """A source rows may now come from, starting at ``bound`` (a partition assigned)."""
        self.sources.add(bound.source)
        self._bound(bound, force=True)

    def advance(self, bound: Bound) -> None:
        """A source moved on (read further, or reached its end) without rows for the merge."""
        self._bound(bound)

    def forget(self, source: int) -> None:
        """A source no longer read here (a partition revoked): its queued rows leave too."""
        self.sources.discard(source)
        self._held = None
        for state in (self.bounds, self.received, self.released, self._holding_since):
            state.pop(source, None)
        for record in self._records:
            part, tape = record.part, record.part.performance
            keep = np.flatnonzero(part.keys.sources[record.cursor :] != source) + record.cursor
            tape_keep = None
            if tape is not None:
                rest = tape.keys.sources[record.tape_cursor :] != source
                tape_keep = np.flatnonzero(rest) + record.tape_cursor
            if len(keep) < part.size - record.cursor or (
                tape is not None
                and tape_keep is not None
                and len(tape_keep) < tape.size - record.tape_cursor
            ):
                record.part = take_rows(part, keep, tape_keep)
                record.cursor = record.tape_cursor = 0
                record.rows = None
        self._fold()

    def held(self) -> dict[int, tuple[Key, int]]:
        """Per source with rows queued: the first queued row's key, and how many are queued."""
        if self._held is not None:
            return self._held
        out: dict[int, tuple[Key, int]] = {}
        for record in self._records:
            events, labels = record.by_source()
            part, tape = record.part, record.part.performance
            for groups, keys, cursor in (
                (events, part.keys, record.cursor),
                (labels, tape.keys if tape is not None else None, record.tape_cursor),
            ):
                for source, rows in groups.items():
                    start = int(np.searchsorted(rows, cursor))
                    if start == len(rows) or keys is None:
                        continue
                    row = int(rows[start])
                    key = (float(keys.ptimes[row]), source, int(keys.offsets[row]))
                    known = out.get(source)
                    count = len(rows) - start + (known[1] if known else 0)
                    out[source] = (known[0] if known else key, count)
        self._held = out
        return out

    # -- output --------------------------------------------------------------------------------

    def pending(self) -> int:
        """Rows queued and not released yet (events, and tape rows: predictions count twice)."""
        total = 0
        for record in self._records:
            tape = record.part.performance
            total += record.part.size - record.cursor
            total += tape.size - record.tape_cursor if tape is not None else 0
        return total

    def release(self, now: float = 0.0) -> list[Slice]:
        """The queued rows every source's bound is past, in key order, numbered; several slices
        when their rows need no interleaving, applied one after the other."""
        self.last_enforced = []
        self._held = None
        limit = self._frontier(now)
        pieces: list[Slice] = []
        for record in self._records:
            part, tape = record.part, record.part.performance
            stop = part.keys.count_before(limit)
            tape_stop = tape.keys.count_before(limit) if tape is not None else 0
            if stop == record.cursor and (tape is None or tape_stop == record.tape_cursor):
                continue
            pieces.append(
                take_rows(
                    part,
                    slice(record.cursor, stop),
                    slice(record.tape_cursor, tape_stop) if tape is not None else None,
                )
            )
            record.cursor, record.tape_cursor = stop, tape_stop
        self._fold()
        if not pieces:
            return []
        if _ordered(pieces):
            out = pieces
            for piece in out:
                self._number(piece)
        elif self.apart and _ordered(pieces, tapes=False):  # only the tapes interleave
            out = self._with_merged_tape(pieces)
        else:
            out = [in_key_order(concat_slices(pieces))]
            self._number(out[0])
        for piece in out:
            _last_offsets(piece.keys, self.released)
            if piece.performance is not None:
                _last_offsets(piece.performance.keys, self.released)
        return out

    def _with_merged_tape(self, pieces: list[Slice]) -> list[Slice]:
        """The pieces' events as they are (they are in order already), and one slice holding
        all their tape rows merged: no copy of the events' columns. Numbered as one release."""
        tapes = [p.performance for p in pieces if p.performance is not None]
        tape = PerformanceTape.concat(tapes)
        if not tape.keys.is_sorted():
            tape = tape.take(tape.keys.order())
        tape.rows = self.rows + np.arange(tape.size, dtype=np.int64)
        self.rows += tape.size
        numbers = tape.rows[~tape.is_label]
        out: list[Slice] = []
        start = 0
        for piece in pieces:
            if piece.size:
                events = take_rows(piece, slice(None))
                events.rows = numbers[start : start + piece.size]
                start += piece.size
                out.append(events)
        first = pieces[0]
        none = {name: column.take(np.empty(0, np.int64)) for name, column in first.segments.items()}
        empty = np.empty(0, np.int64)
        out.append(Slice(empty, np.empty(0), none, {}, {}, {}, performance=tape))
        return out

    def _frontier(self, now: float) -> Key:
        """The smallest bound of the sources rows must still wait for, at ``now``."""
        head = self._head()
        if head is None:
            self._holding_since.clear()
            return _LAST
        limit = _LAST
        for source in self.sources:
            key, at_end = self._key(source), self._at_end(source)
            if at_end and self.idle_wait <= 0:
                continue  # a quiet source never delays the others (by default)
            if key > head:
                self._holding_since.pop(source, None)
            elif self._waited(source, now, at_end):
                if not at_end and source not in self._passed:
                    self._passed.add(source)
                    self.enforced += 1
                    self.last_enforced.append(source)
                continue
            limit = min(limit, key)
        return limit

    def _key(self, source: int) -> Key:
        bound = self.bounds.get(source)
        return bound.key if bound is not None else (NO_TIME, source, 0)

    def _at_end(self, source: int) -> bool:
        bound = self.bounds.get(source)
        return bound is not None and bound.at_end

    def _waited(self, source: int, now: float, at_end: bool) -> bool:
        """Whether ``source`` has held the first queued row back long enough to be passed."""
        since = self._holding_since.setdefault(source, now)
        return now - since >= (self.idle_wait if at_end else self.lag_wait)

    def _head(self) -> Key | None:
        """The smallest key still queued (the record heads are each in key order)."""
        heads: list[Key] = []
        for record in self._records:
            part, tape = record.part, record.part.performance
            if record.cursor < part.size:
                heads.append(part.keys.take(slice(record.cursor, record.cursor + 1)).first())
            if tape is not None and record.tape_cursor < tape.size:
                cut = slice(record.tape_cursor, record.tape_cursor + 1)
                heads.append(tape.keys.take(cut).first())
        return min(heads) if heads else None

    def _number(self, part: Slice) -> None:
        """Sequence numbers in release order; a prediction shares its event's number."""
        tape = part.performance
        if tape is not None:
            tape.rows = self.rows + np.arange(tape.size, dtype=np.int64)
            self.rows += tape.size
            predictions = tape.rows[~tape.is_label]
            if len(predictions) == part.size:
                part.rows = predictions
                return
        part.rows = self.rows + np.arange(part.size, dtype=np.int64)
        self.rows += part.size

    # -- commits -------------------------------------------------------------------------------

    def _fold(self) -> None:
        """Fold fully released records at the front into the checkpoint state."""
        while self._records and self._records[0].done:
            record = self._records.popleft()
            for bound in record.bounds:
                known = self._base.bounds.get(bound.source)
                self._base.bounds[bound.source] = bound if known is None else known.advanced(bound)
            for source, offset in record.received.items():
                self._base.received[source] = max(self._base.received.get(source, 0), offset)

    def checkpoint(self) -> tuple[int | None, MergeState]:
        """The tag of the first record still holding rows (None: none holds any), and the
        state as of just before it."""
        tag = self._records[0].tag if self._records else None
        return tag, self._base.copy()


def _unseen(keys: Keys, received: dict[int, int]) -> np.ndarray | None:
    """Rows at or past what was received from their source; None when that is all of them."""
    if not len(keys):
        return None
    first = int(keys.sources[0])
    one = keys.sources[-1] == first and bool((keys.sources == first).all())
    if one and int(keys.offsets[0]) >= received.get(first, 0):
        return None
    floor = np.zeros(len(keys), np.int64)
    for source in np.unique(keys.sources).tolist():
        if source in received:
            floor[keys.sources == source] = received[source]
    fresh = keys.offsets >= floor
    return None if fresh.all() else fresh


def _ordered(pieces: list[Slice], tapes: bool = True) -> bool:
    """Whether the pieces, one after the other, are already in key order (their events, and
    their tapes unless not ``tapes``)."""
    tape_keys = [p.performance.keys for p in pieces if p.performance] if tapes else []
    for runs in ([p.keys for p in pieces], tape_keys):
        runs = [k for k in runs if len(k)]
        if any(a.last() >= b.first() for a, b in itertools.pairwise(runs)):
            return False
    return True
