"""What "normal" looks like for one series, and the transform that makes detectors scale-free.

A reference comes either from a training baseline (``drift-detector baseline``) or from the
first ``detection.warmup`` live values of the series. Either way it holds:

- numeric: moments, a quantile grid, fixed bins (reference deciles) with their probabilities, the
  share of the most frequent value, and the missing and type-error rates;
- categorical: the most frequent categories with their shares, the share of everything else,
  the rate of categories never seen (Good-Turing), and the missing and type-error rates.

Numeric values become *normal scores*: their mid-rank in the reference CDF (linear between the
quantiles of ``GRID``), passed through the inverse normal CDF. The series cores in
``detector._native`` compute them value by value (``native/src/reference.rs``);
:func:`detector.testing.oracles.normal_scores` is the numpy version they are tested against.
Under no change the scores are close to N(0, 1) whatever the feature's scale or shape, so
detectors are calibrated once for every feature. Ties (discrete values) get mid-ranks, which only
shrinks the variance.

>>> import numpy as np
>>> ref = NumericReference.from_sample(np.array([3.0, 1.0, 2.0, 4.0]))
>>> ref.count, ref.quantiles[[0, 100, 200]].tolist(), ref.summary.p50
(4, [1.0, 2.5, 4.0], 2.5)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from detector._native import dependence as native_dependence
from detector.alerts import Summary
from detector.seasonal import PhaseProfile

OTHER = "__other__"
GRID = np.linspace(0.0, 1.0, 201)  # quantile probabilities kept per numeric reference
N_BINS = 10


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


def _rate(part: int, total: int) -> float:
    return part / total if total else 0.0


@dataclass
class NumericReference:
    """Reference distribution of a numeric series."""

    count: int
    mean: float
    std: float
    min: float
    max: float
    quantiles: np.ndarray  # values at GRID probabilities
    bin_edges: np.ndarray  # interior edges; bins are [e_i, e_i+1) with open outer bins
    bin_probs: np.ndarray
    mode_share: float  # share of the single most frequent value
    missing_rate: float = 0.0
    type_error_rate: float = 0.0
    events: int = 0  # reference events, missing and mistyped ones included
    # Serial dependence at the window's scale, as the AR(1) coefficient phi whose
    # (1 + phi) / (1 - phi) is the measured variance inflation of window means (0 = none).
    dependence: float = 0.0
    # A daily or weekly cycle: the reference holds seasonally adjusted values, and live values
    # are adjusted the same way before they are tested (detector.seasonal).
    season: PhaseProfile | None = None
    # The same for the 0/1 missing indicator (missingness that follows the time of day).
    missing_dependence: float = 0.0

    @classmethod
    def from_sample(
        cls,
        sample: np.ndarray,
        missing: int = 0,
        type_errors: int = 0,
        present: int = 0,
        dependence: float | None = None,
        scale: int = 500,
    ) -> NumericReference:
        """From values in stream order (or a uniform sample of ``present`` values).

        ``dependence`` defaults to the sample's own, measured on its ranks at the scale of
        ``scale``-value windows (:func:`detector._native.dependence`): pass it when the
        sample's order is not the stream's (a reservoir).
        """
        ordered = np.asarray(sample, dtype=np.float64)
        if dependence is None:
            dependence = native_dependence(np.argsort(np.argsort(ordered)).astype(float), scale)
        values = np.sort(ordered)
        edges = np.unique(np.quantile(values, np.linspace(0, 1, N_BINS + 1)[1:-1]))
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        _, runs = np.unique(values, return_counts=True)
        events = max(present, len(values)) + missing + type_errors
        return cls(
            count=len(values),
            mean=float(values.mean()),
            std=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            min=float(values[0]),
            max=float(values[-1]),
            quantiles=np.quantile(values, GRID),
            bin_edges=edges,
            bin_probs=counts / len(values),
            mode_share=float(runs.max() / len(values)),
            missing_rate=_rate(missing, events),
            type_error_rate=_rate(type_errors, events),
            events=events,
            dependence=dependence,
        )

    @property
    def summary(self) -> Summary:
        return Summary(
            count=self.count,
            mean=self.mean,
            std=self.std,
            min=self.min,
            p50=float(self.quantiles[len(GRID) // 2]),
            max=self.max,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "numeric",
            "count": self.count,
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "quantiles": self.quantiles.tolist(),
            "bin_edges": self.bin_edges.tolist(),
            "bin_probs": self.bin_probs.tolist(),
            "mode_share": self.mode_share,
            "missing_rate": self.missing_rate,
            "type_error_rate": self.type_error_rate,
            "events": self.events,
            "dependence": self.dependence,
            "missing_dependence": self.missing_dependence,
            **({"season": self.season.to_dict()} if self.season is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericReference:
        return cls(
            count=int(data["count"]),
            mean=float(data["mean"]),
            std=float(data["std"]),
            min=float(data["min"]),
            max=float(data["max"]),
            quantiles=np.asarray(data["quantiles"], dtype=np.float64),
            bin_edges=np.asarray(data["bin_edges"], dtype=np.float64),
            bin_probs=np.asarray(data["bin_probs"], dtype=np.float64),
            mode_share=float(data["mode_share"]),
            missing_rate=float(data["missing_rate"]),
            type_error_rate=float(data["type_error_rate"]),
            events=int(data["events"]),
            dependence=float(data.get("dependence", 0.0)),
            season=PhaseProfile.from_dict(data["season"]) if data.get("season") else None,
            missing_dependence=float(data.get("missing_dependence", 0.0)),
        )


@dataclass
class CategoricalReference:
    """Reference shares of the most frequent categories; rarer and unseen ones pool as other.

    A category needs ``min_count`` reference occurrences to be tracked on its own, so every cell
    of the chi-square test has enough expected mass.

    >>> ref = CategoricalReference.from_sample(["a"] * 50 + ["b"] * 45 + ["c"] * 3, top=5)
    >>> ref.categories, ref.shares.round(3).tolist(), ref.encode(["b", "c", "zzz"]).tolist()
    (['a', 'b'], [0.51, 0.459, 0.031], [1, 2, 2])
    """

    count: int
    categories: list[str]
    shares: np.ndarray  # one per category, then other
    known: frozenset[str]  # every category seen in the reference (bounded)
    unseen_rate: float  # Good-Turing estimate of the chance of a never-seen category
    missing_rate: float = 0.0
    type_error_rate: float = 0.0
    events: int = 0  # reference events, missing and mistyped ones included
    # Serial dependence of the category indicators at the window's scale, as the AR(1)
    # coefficient whose (1 + phi) / (1 - phi) is the inflation (categorical_dependence).
    dependence: float = 0.0
    missing_dependence: float = 0.0  # the same for the 0/1 missing indicator

    @classmethod
    def from_sample(
        cls,
        sample: Sequence[str],
        top: int,
        missing: int = 0,
        type_errors: int = 0,
        min_count: int = 5,
        max_known: int = 10_000,
    ) -> CategoricalReference:
        counted = Counter(sample)
        return cls.from_counts(counted, top, missing, type_errors, min_count, max_known)

    @classmethod
    def from_counts(
        cls,
        counted: Counter[str],
        top: int,
        missing: int = 0,
        type_errors: int = 0,
        min_count: int = 5,
        max_known: int = 10_000,
    ) -> CategoricalReference:
        total = sum(counted.values())
        tracked = [c for c, n in counted.most_common(top) if n >= min_count and c != OTHER]
        other = total - sum(counted[c] for c in tracked)
        singletons = sum(1 for n in counted.values() if n == 1)
        events = total + missing + type_errors
        return cls(
            count=total,
            categories=tracked,
            shares=np.array([counted[c] for c in tracked] + [other], dtype=np.float64)
            / max(total, 1),
            known=frozenset(c for c, _ in counted.most_common(max_known)),
            unseen_rate=_rate(singletons, total),
            missing_rate=_rate(missing, events),
            type_error_rate=_rate(type_errors, events),
            events=events,
        )

    def encode(self, values: Sequence[str]) -> np.ndarray:
        """Index of each value's category; everything untracked maps to other (last)."""
        code = {c: i for i, c in enumerate(self.categories)}
        other = len(self.categories)
        return np.fromiter((code.get(v, other) for v in values), np.int64, len(values))

    def share_map(self, counts: np.ndarray) -> dict[str, float]:
        """Shares by category name (other as ``__other__``) for alert summaries."""
        total = max(float(counts.sum()), 1.0)
        names = [*self.categories, OTHER]
        return {c: round(float(n) / total, 6) for c, n in zip(names, counts, strict=True)}

    @property
    def summary(self) -> Summary:
        names = [*self.categories, OTHER]
        shares = {c: round(float(s), 6) for c, s in zip(names, self.shares, strict=True)}
        return Summary(count=self.count, shares=shares)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "categorical",
            "count": self.count,
            "categories": self.categories,
            "shares": self.shares.tolist(),
            "known": sorted(self.known),
            "unseen_rate": self.unseen_rate,
            "missing_rate": self.missing_rate,
            "type_error_rate": self.type_error_rate,
            "events": self.events,
            "dependence": self.dependence,
            "missing_dependence": self.missing_dependence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalReference:
        return cls(
            count=int(data["count"]),
            categories=[str(c) for c in data["categories"]],
            shares=np.asarray(data["shares"], dtype=np.float64),
            known=frozenset(str(c) for c in data["known"]),
            unseen_rate=float(data["unseen_rate"]),
            missing_rate=float(data["missing_rate"]),
            type_error_rate=float(data["type_error_rate"]),
            events=int(data["events"]),
            dependence=float(data.get("dependence", 0.0)),  # absent before version 0.2
            missing_dependence=float(data.get("missing_dependence", 0.0)),
        )


Reference = NumericReference | CategoricalReference

# Categories below this share say too little about dependence in a window of a few hundred.
DEPENDENCE_SHARE = 0.05


def inflation_of(dependence: float) -> float:
    """The variance inflation an AR(1)-equivalent ``dependence`` stands for.

    >>> inflation_of(0.5)
    3.0
    """
    return (1 + dependence) / (1 - dependence)


def categorical_dependence(
    reference: CategoricalReference, measure: Callable[[int, float], float | None]
) -> float:
    """The dependence of a categorical series: the mean variance inflation of its tracked
    categories' 0/1 indicators (each at least ``DEPENDENCE_SHARE`` of the reference), as an
    AR(1)-equivalent coefficient. ``measure(index, share)`` gives one indicator's dependence
    (None: not measurable). Chi-square sums the cells' squared deviations, so its spread grows
    with their average inflation.

    >>> ref = CategoricalReference.from_sample(["a"] * 60 + ["b"] * 40, top=5)
    >>> round(categorical_dependence(ref, lambda i, share: 0.5), 3)  # each cell inflated 3x
    0.5
    """
    factors = []
    for index, share in enumerate(reference.shares[: len(reference.categories)].tolist()):
        if share < DEPENDENCE_SHARE or share > 1 - DEPENDENCE_SHARE:
            continue
        phi = measure(index, share)
        if phi is not None:
            factors.append(inflation_of(phi))
    if not factors:
        return 0.0
    inflation = float(np.mean(factors))
    return min(max((inflation - 1) / (inflation + 1), 0.0), 0.95)
