"""A micro-batch's rows as columns (:class:`Slice`), and rows of several slices made one.

A slice is what stage one sends each repartition partition and what stage two applies: every
event's key (:mod:`detector.order`), sequence number, time and capped segment values, the
columns of the fields that have a unit there, and, where the performance unit lives, the
:class:`PerformanceTape` of predictions and labels. :func:`take_rows` and
:func:`concat_slices` cut and join slices, so the merge of :mod:`detector.merge` can hand
units the rows of many records in key order.

>>> part = Slice(np.arange(3), np.array([3.0, 1.0, 2.0]), {}, {"x": np.array([1.0, 2.0, 3.0])},
...              {}, {"x": np.zeros(3, bool)})
>>> joined = concat_slices([take_rows(part, slice(0, 1)), take_rows(part, slice(2, 3))])
>>> joined.numeric["x"].tolist(), joined.keys.offsets.tolist()
([1.0, 3.0], [0, 2])
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from detector.columns import MISSING, Categories
from detector.order import Bound, Keys

TapeValue = str | float  # a class (text) or a regression target


@dataclass
class PerformanceTape:
    """Predictions (one per event) and labels, one row each, in the order they meet the join.

    ``values`` holds a prediction as the join compares it with a label (None where the event
    has none) or the label; ``scores`` the positive class's score (NaN where there is none,
    and for labels); ``segments`` each dimension's capped value per row ("" for labels);
    ``probabilities``, only with ``prediction.probabilities``, each prediction's class
    probabilities (rows x classes, NaN rows for labels and where missing), else None.
    """

    rows: np.ndarray  # int64 sequence numbers, for the order of alerts
    keys: Keys
    is_label: np.ndarray  # bool
    ids: list[str | None]
    times: np.ndarray
    values: list[TapeValue | None]
    scores: np.ndarray
    segments: list[list[str]]
    probabilities: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.rows)

    def take(self, index: np.ndarray | slice) -> PerformanceTape:
        picked = np.arange(self.size)[index].tolist()
        probabilities = self.probabilities
        return PerformanceTape(
            self.rows[index],
            self.keys.take(index),
            self.is_label[index],
            [self.ids[i] for i in picked],
            self.times[index],
            [self.values[i] for i in picked],
            self.scores[index],
            [[column[i] for i in picked] for column in self.segments],
            None if probabilities is None else probabilities[index],
        )

    @staticmethod
    def concat(parts: list[PerformanceTape]) -> PerformanceTape:
        if len(parts) == 1:
            return parts[0]
        return PerformanceTape(
            np.concatenate([p.rows for p in parts]),
            Keys.concat([p.keys for p in parts]),
            np.concatenate([p.is_label for p in parts]),
            [i for p in parts for i in p.ids],
            np.concatenate([p.times for p in parts]),
            [v for p in parts for v in p.values],
            np.concatenate([p.scores for p in parts]),
            [[v for p in parts for v in p.segments[d]] for d in range(len(parts[0].segments))],
            _probabilities(parts),
        )


def _probabilities(parts: list[PerformanceTape]) -> np.ndarray | None:
    """The parts' class probabilities one after another (NaN rows for a part without), or None
    when no part has any."""
    widths = {p.probabilities.shape[1] for p in parts if p.probabilities is not None}
    if not widths:
        return None
    if len(widths) > 1:
        raise ValueError("tapes with different numbers of classes")
    k = widths.pop()
    return np.concatenate(
        [
            p.probabilities if p.probabilities is not None else np.full((p.size, k), np.nan)
            for p in parts
        ]
    )


@dataclass
class Slice:
    """A micro-batch column by column, as far as one repartition partition's units need it.

    Every event's sequence number (``rows``, for the order of alerts), key, time and capped
    segment values; the columns of the fields that have a unit in the partition; the schema
    samples if it owns the stream unit, and the performance tape if it owns that one.
    ``bounds`` (repartition records only) says where the sender's sources stand after it.
    Without ``keys`` the rows are one source's, in order (tests and direct use).
    """

    rows: np.ndarray  # int64
    times: np.ndarray
    segments: dict[str, Categories]
    numeric: dict[str, np.ndarray]
    categorical: dict[str, Categories]
    errors: dict[str, np.ndarray]  # type errors of every field above
    stream: bool = True  # holds the stream unit's share (the samples below)
    schema_samples: list[tuple[int, list[str]]] = field(default_factory=list)  # (index, paths)
    performance: PerformanceTape | None = None
    keys: Keys = field(default_factory=Keys.empty)
    bounds: list[Bound] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.rows):
            ptimes = np.maximum.accumulate(self.times) if len(self.times) else np.empty(0)
            zeros = np.zeros(len(self.rows), np.int32)
            self.keys = Keys(ptimes, zeros, np.asarray(self.rows, np.int64))

    @property
    def size(self) -> int:
        return len(self.rows)


def take_rows(
    part: Slice, index: np.ndarray | slice, tape_index: np.ndarray | slice | None = None
) -> Slice:
    """The events at ``index`` and the tape rows at ``tape_index`` (none when it is None)."""
    tape = part.performance
    picked = np.arange(part.size)[index]
    where = np.full(part.size, -1, np.int64)
    where[picked] = np.arange(len(picked))
    samples = [(int(where[r]), paths) for r, paths in part.schema_samples if where[r] >= 0]
    return Slice(
        rows=part.rows[index],
        times=part.times[index],
        segments={k: v.take(index) for k, v in part.segments.items()},
        numeric={k: v[index] for k, v in part.numeric.items()},
        categorical={k: v.take(index) for k, v in part.categorical.items()},
        errors={k: v[index] for k, v in part.errors.items()},
        stream=part.stream,
        schema_samples=sorted(samples),
        performance=None if tape is None or tape_index is None else tape.take(tape_index),
        keys=part.keys.take(index),
    )


def concat_slices(parts: list[Slice]) -> Slice:
    """The parts' rows one after another. A field one part lacks (its rows reach no unit of
    that field in this partition) is filled as missing there."""
    if len(parts) == 1:
        return parts[0]
    sizes = [p.size for p in parts]
    starts = np.cumsum([0, *sizes]).tolist()
    numeric = {n: np.nan for p in parts for n in p.numeric}
    categorical = {n: None for p in parts for n in p.categorical}

    def numbers(name: str) -> np.ndarray:
        return np.concatenate(
            [p.numeric[name] if name in p.numeric else np.full(p.size, np.nan) for p in parts]
        )

    def texts(columns: list[dict[str, Categories]], name: str) -> Categories:
        return Categories.concat(
            [
                c[name] if name in c else Categories(np.full(p.size, MISSING, np.int32), [])
                for c, p in zip(columns, parts, strict=True)
            ]
        )

    def flags(name: str) -> np.ndarray:
        return np.concatenate(
            [p.errors[name] if name in p.errors else np.zeros(p.size, bool) for p in parts]
        )

    tapes = [p.performance for p in parts if p.performance is not None]
    return Slice(
        rows=np.concatenate([p.rows for p in parts]),
        times=np.concatenate([p.times for p in parts]),
        segments={d: texts([p.segments for p in parts], d) for d in parts[0].segments},
        numeric={n: numbers(n) for n in numeric},
        categorical={n: texts([p.categorical for p in parts], n) for n in categorical},
        errors={n: flags(n) for n in {**numeric, **categorical}},
        stream=parts[0].stream,
        schema_samples=[
            (start + r, paths)
            for p, start in zip(parts, starts, strict=False)
            for r, paths in p.schema_samples
        ],
        performance=PerformanceTape.concat(tapes) if tapes else None,
        keys=Keys.concat([p.keys for p in parts]),
    )


def split_rows(part: Slice, most: int) -> list[Slice]:
    """The slice in pieces of at most ``most`` events (views), each with the tape rows between
    its events' keys: the pieces one after the other are the slice."""
    if part.size <= most:
        return [part]
    tape = part.performance
    starts = list(range(0, part.size, most))
    ends = [*starts[1:], part.size]
    if tape is None:
        return [take_rows(part, slice(a, b)) for a, b in zip(starts, ends, strict=True)]
    cuts = [0] + [
        tape.keys.count_before(part.keys.take(slice(a, a + 1)).first()) for a in ends[:-1]
    ]
    return [
        take_rows(part, slice(a, b), slice(c, d))
        for a, b, c, d in zip(starts, ends, cuts, [*cuts[1:], tape.size], strict=True)
    ]


def sorted_runs(part: Slice, most: int = 32) -> list[Slice]:
    """The slice as consecutive runs already in key order (views, no copy): a batch consumed
    from several partitions mostly comes partition by partition. More than ``most`` runs: the
    whole slice sorted instead. The tape (predictions, one per event) is cut alike."""
    if part.keys.is_sorted():
        return [part]
    breaks = (np.flatnonzero(~part.keys.before_next()) + 1).tolist()
    if len(breaks) >= most or (part.performance is not None and part.performance.size != part.size):
        return [in_key_order(part)]
    edges = [0, *breaks, part.size]
    tape = part.performance
    return [
        take_rows(part, slice(a, b), slice(a, b) if tape is not None else None)
        for a, b in itertools.pairwise(edges)
    ]


def in_key_order(part: Slice) -> Slice:
    """The slice with its events, and its tape, sorted by key."""
    tape = part.performance
    tape_sorted = tape is None or tape.keys.is_sorted()
    if part.keys.is_sorted() and tape_sorted:
        return part
    tape_order: np.ndarray | slice | None = None
    if tape is not None:
        tape_order = slice(None) if tape_sorted else tape.keys.order()
    return take_rows(part, part.keys.order(), tape_order)
