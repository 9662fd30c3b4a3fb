"""Which series each event belongs to: all traffic, plus one per value of each segment dimension.

Each dimension tracks at most ``max_values`` distinct values, first come first served; later
values share the ``__other__`` series, so a high-cardinality field cannot exhaust memory. The
same router feeds the live engine and the baseline builder, so their series line up. First come
first served depends on what a worker saw first: with several workers and more values than
``max_values``, list the dimension's ``values`` and every worker routes alike (the listed
values and ``__missing__`` get series, anything else is ``__other__``).

>>> from detector.config import SegmentSpec
>>> router = SegmentRouter([SegmentSpec(name="c", path="c", max_values=2)])
>>> capped = router.capped({"c": ["x", "y", "z"]})
>>> [(dim, value, rows.tolist()) for dim, value, rows in router.groups(3, capped)]
[(None, None, [0, 1, 2]), ('c', 'x', [0]), ('c', 'y', [1]), ('c', '__other__', [2])]
>>> listed = SegmentRouter([SegmentSpec(name="c", path="c", values=["z", "y"])])
>>> listed.capped({"c": ["x", "y", "z", "__missing__", "w"]})
{'c': ['__other__', 'y', 'z', '__missing__', '__other__']}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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

    def capped(self, segments: dict[str, list[str]]) -> dict[str, list[str]]:
        """Each dimension's values with the cap applied (overflow as ``__other__``)."""
        return {d: [self.cap(d, v) for v in raw] for d, raw in segments.items()}

    def groups(self, size: int, capped: dict[str, list[str]]) -> list[Group]:
        """All rows, then the rows of each (capped) dimension value in first-seen order."""
        groups: list[Group] = [(None, None, np.arange(size))]
        for dimension, values in capped.items():
            rows: dict[str, list[int]] = {}
            for row, value in enumerate(values):
                rows.setdefault(value, []).append(row)
            groups += [(dimension, v, np.asarray(r)) for v, r in rows.items()]
        return groups
