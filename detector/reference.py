"""What "normal" looks like for one series, and the transform that makes detectors scale-free.

A numeric reference keeps the sorted warm-up sample. Each new value is mapped to its mid-rank in
that sample and then to a standard normal score (probability integral transform). Under no change
the scores are close to N(0, 1) whatever the feature's scale or shape (heavy tails, skew), and
bounded by about +-3.3 for a 1,000-value reference, so ADWIN and Page-Hinkley get inputs in units
they can be calibrated for once. Ties (discrete values) get mid-ranks, which only shrinks the
variance, so thresholds stay conservative.

>>> import numpy as np
>>> ref = NumericReference(np.array([3.0, 1.0, 2.0, 4.0]))
>>> ref.normal_scores(np.array([0.0, 2.5, 9.0])).round(2).tolist()
[-1.28, 0.0, 1.28]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtri

from detector.alerts import Summary

OTHER = "__other__"


def describe(values: np.ndarray) -> Summary:
    """Count, mean, std, min, median and max of finite values (for alert summaries)."""
    if len(values) == 0:
        return Summary(count=0)
    return Summary(
        count=len(values),
        mean=float(values.mean()),
        std=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        min=float(values.min()),
        p50=float(np.median(values)),
        max=float(values.max()),
    )


class NumericReference:
    """Sorted reference sample of a numeric series."""

    def __init__(self, sample: np.ndarray) -> None:
        self.sorted = np.sort(sample)
        self.size = len(sample)
        self.summary = describe(self.sorted)
        self.mean = self.summary.mean or 0.0
        self.std = self.summary.std or 0.0

    def normal_scores(self, values: np.ndarray) -> np.ndarray:
        lo = np.searchsorted(self.sorted, values, side="left")
        hi = np.searchsorted(self.sorted, values, side="right")
        return np.asarray(ndtri(((lo + hi) / 2.0 + 0.5) / (self.size + 1.0)))


class CategoricalReference:
    """Reference shares of the most frequent categories; rarer and unseen ones pool as other.

    A category needs at least ``min_count`` reference occurrences to be tracked on its own, so
    every cell of the chi-square test has enough expected mass.

    >>> ref = CategoricalReference(["a"] * 50 + ["b"] * 45 + ["c"] * 3, top=5)
    >>> ref.categories, ref.counts.tolist(), ref.encode(["b", "c", "zzz"]).tolist()
    (['a', 'b', '__other__'], [50, 45, 3], [1, 2, 2])
    """

    def __init__(self, sample: Sequence[str], top: int, min_count: int = 5) -> None:
        counted = Counter(sample)
        tracked = [c for c, n in counted.most_common(top) if n >= min_count and c != OTHER]
        self.categories = [*tracked, OTHER]
        self._code = {c: i for i, c in enumerate(tracked)}
        other = sum(n for c, n in counted.items() if c not in self._code)
        self.counts = np.array([counted[c] for c in tracked] + [other], dtype=np.int64)
        self.size = int(self.counts.sum())

    def encode(self, values: Sequence[str]) -> np.ndarray:
        other = len(self.categories) - 1
        return np.fromiter((self._code.get(v, other) for v in values), np.int64, len(values))

    def shares(self, counts: np.ndarray) -> dict[str, float]:
        total = max(int(counts.sum()), 1)
        return {c: round(float(n) / total, 6) for c, n in zip(self.categories, counts, strict=True)}
