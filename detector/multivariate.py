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
    inflation: float = 1.0,
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
