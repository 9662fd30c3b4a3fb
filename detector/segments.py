"""Which series each event belongs to: all traffic, plus one per value of each segment dimension.

Each dimension tracks at most ``max_values`` distinct values, first come first served; later
values share the ``__other__`` series, so a high-cardinality field cannot exhaust memory. The
same router feeds the live engine and the baseline builder, so their series line up. First come
first served depends on what a worker saw first: with several workers and more values than
``max_values``, list the dimension's ``values`` and every worker routes alike (the listed
values and ``__missing__`` get series, anything else is ``__other__``).

>>> from detector.config import SegmentSpec
>>> router = SegmentRouter([SegmentSpec(name="c", path="c", max_values=2)])
>>> capped = router.capped({"c": Categories.from_values(["x", "y", "z", "x"])})
>>> [(dim, value, rows.tolist()) for dim, value, rows in segment_groups(4, capped)]
[(None, None, [0, 1, 2, 3]), ('c', 'x', [0, 3]), ('c', 'y', [1]), ('c', '__other__', [2])]
>>> listed = SegmentRouter([SegmentSpec(name="c", path="c", values=["z", "y"])])
>>> listed.capped({"c": Categories.from_values(["x", "y", "z", "__missing__", "w"])})["c"].values()
['__other__', 'y', 'z', '__missing__', '__other__']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detector.columns import MISSING, Categories
from detector.config import SegmentSpec
from detector.events import MISSING_SEGMENT

OTHER_SEGMENT = "__other__"
Group = tuple[str | None, str | None, np.ndarray]  # dimension, value, row indexes


class SegmentRouter:
    """Groups a batch's rows by series, capping the values of each dimension."""

    def __init__(self, segments: Sequence[SegmentSpec]) -> None:
        self._max_values = {s.name: s.max_values for s in segments}
        self._known: dict[str, dict[str, str]] = {s.name: {} for s in segments}
        for spec in segments:
            if spec.values is not None:  # a fixed list: nothing is admitted later
                known = self._known[spec.name]
                known.update({v: v for v in [*spec.values, MISSING_SEGMENT]})
                self._max_values[spec.name] = len(known)

    def cap(self, dimension: str, value: str) -> str:
        known = self._known[dimension]
        mapped = known.get(value)
        if mapped is None:
            if len(known) >= self._max_values[dimension]:
                return OTHER_SEGMENT  # not remembered: overflow values must not grow the state
            mapped = known[value] = value
        return mapped

    def capped(self, segments: dict[str, Categories]) -> dict[str, Categories]:
        """Each dimension's values with the cap applied (overflow as ``__other__``); values are
        admitted in the order of their first event, and the result's vocabulary is in that
        order too."""
        return {d: self._capped(d, column) for d, column in segments.items()}

    def _capped(self, dimension: str, column: Categories) -> Categories:
        index: dict[str, int] = {}
        remap = np.full(len(column.vocabulary) + 1, MISSING, np.int32)  # the last: code -1
        for code in column.first_seen():
            text = self.cap(dimension, column.vocabulary[code])
            remap[code] = index.setdefault(text, len(index))
        return Categories(remap[column.codes], list(index))


def segment_groups(size: int, capped: dict[str, Categories]) -> list[Group]:
    """All rows, then the rows of each (capped) dimension value in first-seen order."""
    groups: list[Group] = [(None, None, np.arange(size))]
    for dimension, column in capped.items():
        order = np.argsort(column.codes, kind="stable")  # each value's rows, ascending
        ends = np.cumsum(np.bincount(column.codes, minlength=len(column.vocabulary)))
        for code in column.first_seen():
            start = int(ends[code - 1]) if code else 0
            groups.append((dimension, column.vocabulary[code], order[start : ends[code]]))
    return groups
