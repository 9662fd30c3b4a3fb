"""Drift the marginals cannot see: the correlations between numeric features' normal scores.

A change in the joint distribution with every marginal unchanged (a broken join pairing rows
wrongly, a sensor decoupling from another, a fraud pattern of normal-looking values) is
invisible to every per-feature test. Normal scores have standard normal marginals under no
change whatever the features' scales and shapes, so their correlation matrix is the Gaussian
copula's: what is left of the joint distribution once the marginals are taken out.

Each window, every pair's correlation is compared with the reference's through Fisher's
transform: ``z = (atanh r - atanh r_ref) / sqrt(1 / (n - 3) + 1 / (N - 3))`` is close to
N(0, 1) under no change (n the window's rows with both values, N the reference's). The window's
statistic is the largest ``|z|`` over the pairs; its level splits the window test's level over
the pairs (Bonferroni, two-sided), so one test per window keeps the model's budget. An alert
names the pairs that moved most, with both correlations. Dependence: serially dependent scores
make window correlations vary more; the largest inflation of the two features widens the
standard error (``inflation``).

>>> from detector.testing.joint import CorrelationChange, JointStream
>>> names = ("amount", "latency", "income", "age")
>>> stream = JointStream(seed=3)
>>> ref = stream.columns(20_000)
>>> reference = CorrelationReference.from_scores(names, _scores(ref, names))
>>> round(float(reference.corr[0, 1]), 2)
0.6
>>> level = pair_level(1e-6, len(names))
>>> now = stream.columns(500, [CorrelationChange(0, ("amount", "latency"), 0.0)])
>>> window = CorrelationWindow(len(names))
>>> window.add(_scores(now, names))
>>> result = correlation_test(window, reference, level)
>>> result.statistic > result.threshold, result.pairs[0][:2]
(True, ('amount', 'latency'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from detector._native import normal_scores
from detector.reference import GRID

MIN_PAIR_ROWS = 30  # a pair seen in fewer rows of a window is not tested
_CLIP = 0.999_999  # |r| below 1, so atanh stays finite


def pair_level(alpha: float, features: int) -> float:
    """The |z| a pair must exceed: ``alpha`` split over the pairs, two-sided."""
    pairs = max(features * (features - 1) // 2, 1)
    return float(norm.isf(alpha / (2 * pairs)))


def _correlations(n: np.ndarray, sx: np.ndarray, sxx: np.ndarray, sxy: np.ndarray) -> np.ndarray:
    """Pairwise-complete correlations from sums over rows where both values are present:
    ``sx[i, j]`` sums x_i over rows with x_j present, ``sxx`` the squares, ``sxy`` products."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sx.T / n
        var_i = sxx - sx * sx / n
        var_j = var_i.T
        r = cov / np.sqrt(var_i * var_j)
    out: np.ndarray = np.clip(np.nan_to_num(r, nan=0.0), -_CLIP, _CLIP)
    return out


class CorrelationWindow:
    """Sums of one window's normal scores (rows x features, NaN = missing), pair by pair."""

    def __init__(self, features: int) -> None:
        shape = (features, features)
        self.n = np.zeros(shape)
        self.sx = np.zeros(shape)
        self.sxx = np.zeros(shape)
        self.sxy = np.zeros(shape)

    def add(self, scores: np.ndarray) -> None:
        present = ~np.isnan(scores)
        x = np.where(present, scores, 0.0)
        m = present.astype(np.float64)
        self.n += m.T @ m
        self.sx += x.T @ m
        self.sxx += (x * x).T @ m
        self.sxy += x.T @ x

    def correlations(self) -> np.ndarray:
        return _correlations(self.n, self.sx, self.sxx, self.sxy)

    def clear(self) -> None:
        for sums in (self.n, self.sx, self.sxx, self.sxy):
            sums.fill(0.0)


@dataclass
class CorrelationReference:
    """The reference's pairwise correlations of normal scores and the rows behind each."""

    names: tuple[str, ...]
    corr: np.ndarray
    count: np.ndarray  # rows with both values, per pair

    @classmethod
    def from_scores(cls, names: tuple[str, ...], scores: np.ndarray) -> CorrelationReference:
        window = CorrelationWindow(len(names))
        window.add(scores)
        return cls(names, window.correlations(), window.n.copy())


@dataclass
class JointReference:
    """What the joint test compares windows with: each field's quantile grid (its marginal,
    for normal scores), the correlations of those scores, and each pair's variance inflation
    under serial dependence, ``(1 + phi_i phi_j) / (1 - phi_i phi_j)`` with ``phi`` a field's
    AR(1)-equivalent dependence (the variance of a sample correlation of two AR(1) series)."""

    quantiles: np.ndarray  # fields x GRID points; a row of NaN: too few values to score
    counts: np.ndarray  # values behind each field's quantiles
    correlation: CorrelationReference
    inflation: np.ndarray  # fields x fields

    @classmethod
    def from_rows(
        cls, names: tuple[str, ...], rows: np.ndarray, dependence: np.ndarray | None = None
    ) -> JointReference:
        """From rows (rows x fields, NaN = missing); ``dependence`` per field, else measured
        as the lag-1 autocorrelation of the rows' scores (the rows must then be in order)."""
        k = len(names)
        quantiles = np.full((k, len(GRID)), np.nan)
        counts = np.zeros(k)
        for i in range(k):
            present = rows[:, i][~np.isnan(rows[:, i])]
            if len(present) >= MIN_PAIR_ROWS:
                quantiles[i] = np.quantile(present, GRID)
                counts[i] = len(present)
        scores = score_rows(quantiles, counts, rows)
        phi = _lag1(scores) if dependence is None else np.clip(dependence, 0.0, 0.95)
        pair = np.outer(phi, phi)
        inflation = (1.0 + pair) / (1.0 - pair)
        return cls(quantiles, counts, CorrelationReference.from_scores(names, scores), inflation)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return score_rows(self.quantiles, self.counts, rows)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers for the baseline file (a field without values: null quantiles)."""
        corr = self.correlation
        return {
            "fields": list(corr.names),
            "quantiles": [
                None if c == 0 else q.tolist()
                for q, c in zip(self.quantiles, self.counts, strict=True)
            ],
            "counts": self.counts.tolist(),
            "correlations": corr.corr.tolist(),
            "pair_counts": corr.count.tolist(),
            "inflation": self.inflation.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JointReference:
        """From :meth:`to_dict`'s output; ValueError when the shapes or values make no sense."""
        names = tuple(str(n) for n in data["fields"])
        k = len(names)
        if k < 2:
            raise ValueError("a joint reference needs two fields or more")
        grid = len(GRID)
        quantiles = np.array(
            [np.full(grid, np.nan) if q is None else q for q in data["quantiles"]], dtype=float
        )
        counts = np.asarray(data["counts"], dtype=float)
        square = [
            np.asarray(data[f], dtype=float) for f in ("correlations", "pair_counts", "inflation")
        ]
        if (
            quantiles.shape != (k, grid)
            or counts.shape != (k,)
            or any(m.shape != (k, k) for m in square)
        ):
            raise ValueError(f"shapes do not match {k} fields")
        present = counts > 0
        if np.any(np.diff(quantiles[present], axis=1) < 0) or np.isnan(quantiles[present]).any():
            raise ValueError("quantiles must ascend")
        corr, pair_counts, inflation = square
        if np.isnan(corr).any() or np.abs(corr).max() >= 1.0 or (inflation < 1.0).any():
            raise ValueError("correlations must lie in (-1, 1) and inflation be >= 1")
        return cls(quantiles, counts, CorrelationReference(names, corr, pair_counts), inflation)


def score_rows(quantiles: np.ndarray, counts: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each column's normal scores against its quantile grid (the series cores' transform,
    :func:`detector._native.normal_scores`); NaN where a value is missing or a field has none."""
    out = np.full(rows.shape, np.nan)
    for i in range(rows.shape[1]):
        if counts[i] > 0:
            out[:, i] = normal_scores(
                quantiles[i], float(counts[i]), np.ascontiguousarray(rows[:, i])
            )
    return out


def _lag1(scores: np.ndarray) -> np.ndarray:
    """Each column's lag-1 autocorrelation (over consecutive rows with both values), >= 0."""
    phi = np.zeros(scores.shape[1])
    for i in range(scores.shape[1]):
        x, y = scores[:-1, i], scores[1:, i]
        both = ~(np.isnan(x) | np.isnan(y))
        if both.sum() >= MIN_PAIR_ROWS:
            r = np.corrcoef(x[both], y[both])[0, 1]
            phi[i] = float(np.clip(np.nan_to_num(r), 0.0, 0.95))
    return phi


@dataclass(frozen=True)
class CorrelationResult:
    """The window's largest |z| over the pairs, the level, and the pairs that moved most:
    (feature a, feature b, reference correlation, window correlation, z), largest |z| first."""

    statistic: float
    threshold: float
    pairs: list[tuple[str, str, float, float, float]]


def correlation_test(
    window: CorrelationWindow,
    reference: CorrelationReference,
    threshold: float,
    inflation: float | np.ndarray = 1.0,
    top: int = 3,
) -> CorrelationResult:
    """Compare a window's correlations with the reference's (see the module's docstring)."""
    k = len(reference.names)
    r = window.correlations()
    n, big_n = window.n, reference.count
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.sqrt(inflation * (1.0 / (n - 3.0) + 1.0 / (big_n - 3.0)))
        z = (np.arctanh(r) - np.arctanh(reference.corr)) / error
    i, j = np.triu_indices(k, 1)
    tested = (n[i, j] >= MIN_PAIR_ROWS) & (big_n[i, j] >= MIN_PAIR_ROWS)
    zs = np.where(tested, np.abs(z[i, j]), 0.0)
    order = np.argsort(-zs, kind="stable")[:top]
    pairs = [
        (
            reference.names[i[o]],
            reference.names[j[o]],
            float(reference.corr[i[o], j[o]]),
            float(r[i[o], j[o]]),
            float(z[i[o], j[o]]),
        )
        for o in order
        if tested[o]
    ]
    return CorrelationResult(float(zs.max(initial=0.0)), threshold, pairs)


def _scores(columns: dict[str, Any], names: tuple[str, ...]) -> np.ndarray:
    """The copula values of a :class:`~detector.testing.joint.JointStream`'s columns (rows x
    features): normal scores as a reference would give them (doctests)."""
    return np.column_stack([columns[f"z.{name}"] for name in names])
