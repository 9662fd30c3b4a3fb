"""Mergeable, bounded-memory summaries of one series (or one window of it).

Every sketch here is *mergeable*: summarising two parts of a stream and merging gives the summary
of the whole (exactly for counts, histograms and quantile buckets; up to float rounding for
moments). That is what lets windows roll up into totals, and, later, workers' partial states
combine. Memory is bounded whatever the input: a fixed number of bins, at most
``QuantileSketch.max_buckets`` buckets, and a fixed category vocabulary.

>>> import numpy as np
>>> a, b = Moments(), Moments()
>>> a.update(np.array([1.0, 2.0])); b.update(np.array([3.0, 4.0, 5.0]))
>>> a.merge(b); (a.count, a.mean, round(a.std, 4))
(5, 3.0, 1.5811)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class Moments:
    """Count, mean and variance (Chan et al.'s parallel update), min and max."""

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self._m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def update(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        other = Moments()
        other.count = len(values)
        other.mean = float(values.mean())
        other._m2 = float(((values - other.mean) ** 2).sum())
        other.min, other.max = float(values.min()), float(values.max())
        self.merge(other)

    def merge(self, other: Moments) -> None:
        if other.count == 0:
            return
        total = self.count + other.count
        delta = other.mean - self.mean
        self._m2 += other._m2 + delta * delta * self.count * other.count / total
        self.mean += delta * other.count / total
        self.count = total
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / (self.count - 1)) if self.count > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "m2": self._m2,
            "min": self.min,
            "max": self.max,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Moments:
        moments = cls()
        moments.count, moments.mean, moments._m2 = int(data["count"]), data["mean"], data["m2"]
        moments.min, moments.max = float(data["min"]), float(data["max"])
        return moments


class Histogram:
    """Counts over fixed bin edges: ``len(edges) + 1`` bins, the outer two open-ended.

    >>> h = Histogram(np.array([0.0, 1.0]))
    >>> h.update(np.array([-5.0, 0.0, 0.5, 1.0, 9.0])); h.counts.tolist()
    [1, 2, 2]
    """

    def __init__(self, edges: np.ndarray) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)

    def update(self, values: np.ndarray) -> None:
        self.add_bins(self.bins(values))

    def bins(self, values: np.ndarray) -> np.ndarray:
        """Each value's bin (for :meth:`add_bins`: a batch is binned once, then sliced)."""
        return np.searchsorted(self.edges, values, side="right")

    def add_bins(self, bins: np.ndarray) -> None:
        self.counts += np.bincount(bins, minlength=len(self.counts))

    def merge(self, other: Histogram) -> None:
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("histograms with different bin edges cannot be merged")
        self.counts += other.counts

    def reset(self) -> None:
        self.counts[:] = 0


_DENSE_KEYS = 4096  # key spans up to this are counted with np.bincount (32 KiB of counts)


class QuantileSketch:
    """A DDSketch: log-spaced buckets with relative accuracy ``alpha`` on every quantile.

    Merging adds bucket counts, so it is exact. When a sign has more than ``max_buckets``
    buckets, the lowest-magnitude ones collapse into one (their quantiles lose accuracy first).

    >>> s = QuantileSketch(); s.update(np.arange(1.0, 1001.0))
    >>> abs(s.quantile(0.5) - 500) / 500 < 0.01
    True
    """

    def __init__(self, alpha: float = 0.01, max_buckets: int = 2048) -> None:
        self.alpha = alpha
        self.max_buckets = max_buckets
        self._gamma_log = math.log((1 + alpha) / (1 - alpha))
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}
        self.zeros = 0

    @property
    def count(self) -> int:
        return self.zeros + sum(self.positive.values()) + sum(self.negative.values())

    def _add(self, store: dict[int, int], magnitudes: np.ndarray) -> None:
        if len(magnitudes) == 0:
            return
        keys = np.ceil(np.log(magnitudes) / self._gamma_log).astype(np.int64)
        low, high = int(keys.min()), int(keys.max())
        if high - low < _DENSE_KEYS:  # the usual case: counting beats np.unique's sort
            dense = np.bincount(keys - low)
            present = np.flatnonzero(dense)
            unique, counts = present + low, dense[present]  # ascending, as np.unique gives
        else:
            unique, counts = np.unique(keys, return_counts=True)
        for key, count in zip(unique.tolist(), counts.tolist(), strict=True):
            store[key] = store.get(key, 0) + count
        self._collapse(store)

    def _collapse(self, store: dict[int, int]) -> None:
        if len(store) <= self.max_buckets:
            return
        keys = sorted(store)
        cut = keys[len(keys) - self.max_buckets]
        folded = sum(store.pop(k) for k in keys if k < cut)
        store[cut] += folded

    def update(self, values: np.ndarray) -> None:
        values = values[np.isfinite(values)]
        self.zeros += int((values == 0).sum())
        self._add(self.positive, values[values > 0])
        self._add(self.negative, -values[values < 0])

    def merge(self, other: QuantileSketch) -> None:
        for mine, theirs in ((self.positive, other.positive), (self.negative, other.negative)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count
            self._collapse(mine)
        self.zeros += other.zeros

    def _value(self, key: int) -> float:
        return 2.0 * math.exp(key * self._gamma_log) / (1.0 + math.exp(self._gamma_log))

    def quantile(self, q: float) -> float:
        """The value at quantile ``q`` (NaN when empty)."""
        total = self.count
        if total == 0:
            return math.nan
        rank = q * (total - 1)
        seen = 0
        for key in sorted(self.negative, reverse=True):
            seen += self.negative[key]
            if seen > rank:
                return -self._value(key)
        seen += self.zeros
        if seen > rank:
            return 0.0
        for key in sorted(self.positive):
            seen += self.positive[key]
            if seen > rank:
                return self._value(key)
        return self._value(max(self.positive)) if self.positive else 0.0


class CategoryCounts:
    """Counts over a fixed category vocabulary; everything else is counted as other.

    >>> c = CategoryCounts(["a", "b"]); c.update(["a", "z", "a"]); c.counts.tolist()
    [2, 0, 1]
    """

    def __init__(self, categories: list[str]) -> None:
        self.categories = list(categories)
        self._code = {c: i for i, c in enumerate(self.categories)}
        self.counts = np.zeros(len(self.categories) + 1, dtype=np.int64)

    def encode(self, values: list[str]) -> np.ndarray:
        other = len(self.categories)
        return np.fromiter((self._code.get(v, other) for v in values), np.int64, len(values))

    def update(self, values: list[str]) -> None:
        self.add_codes(self.encode(values))

    def add_codes(self, codes: np.ndarray) -> None:
        self.counts += np.bincount(codes, minlength=len(self.counts))

    def merge(self, other: CategoryCounts) -> None:
        if other.categories != self.categories:
            raise ValueError("category counts over different vocabularies cannot be merged")
        self.counts += other.counts


class NumericSketch:
    """Everything a numeric series keeps about all its values: moments, bins, quantiles."""

    def __init__(self, edges: np.ndarray) -> None:
        self.moments = Moments()
        self.histogram = Histogram(edges)
        self.quantiles = QuantileSketch()

    def update(self, values: np.ndarray) -> None:
        self.moments.update(values)
        self.histogram.update(values)
        self.quantiles.update(values)

    def add_window(self, values: np.ndarray, histogram: Histogram) -> None:
        """Like :meth:`update`, for values already counted in ``histogram`` (same edges): its
        counts are added rather than the values binned again."""
        self.moments.update(values)
        self.histogram.merge(histogram)
        self.quantiles.update(values)

    def merge(self, other: NumericSketch) -> None:
        self.moments.merge(other.moments)
        self.histogram.merge(other.histogram)
        self.quantiles.merge(other.quantiles)
