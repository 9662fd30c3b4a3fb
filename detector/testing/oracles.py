"""numpy and scipy versions of what the Rust core (``detector._native``) computes, for tests.

The engine never calls these: the numeric and categorical series cores (``native/src``) are the
product. Each function here states the same arithmetic in array form, the way it is easiest to
check by eye, and ``tests/test_differential.py`` compares it with the core on seeded random
inputs:

- :func:`normal_scores`: a value's mid-rank in the reference CDF as a normal score
  (``native/src/reference.rs``);
- :func:`binned_tests` and :func:`categorical_tests`: PSI, JS, KS, Wasserstein and chi-square of a
  window against the reference (``native/src``; the thresholds are explained in
  :mod:`detector.detectors.distribution`);
- :func:`constant_check` and :func:`beyond_range_check`: the quality checks the performance series
  do not share (the rate check they share is :func:`detector.quality.rate_check`).

>>> probs = np.full(10, 0.1)
>>> quiet = np.array([50, 48, 52, 51, 49, 50, 50, 47, 53, 50])
>>> [r.name for r in binned_tests(quiet, probs, np.arange(9.0), 1.0, 1e-7, 100_000) if r.fired]
[]
>>> shifted = np.array([10, 20, 30, 40, 50, 60, 70, 80, 90, 50])
>>> [r.name for r in binned_tests(shifted, probs, np.arange(9.0), 1.0, 1e-7, 100_000) if r.fired]
['psi', 'js', 'ks', 'wasserstein']
>>> from detector.reference import NumericReference
>>> ref = NumericReference.from_sample(np.array([3.0, 1.0, 2.0, 4.0]))
>>> normal_scores(ref, np.array([0.0, 2.5, 9.0])).round(2).tolist()
[-1.28, 0.0, 1.28]
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from detector.detectors.distribution import TestResult, chi2_level
from detector.quality import critical_count
from detector.reference import GRID, NumericReference

_GRID_STEP = GRID[1:] - GRID[:-1]  # the same floats the core subtracts per value
_PROB_FLOOR = 1e-6


def normal_scores(reference: NumericReference, values: np.ndarray) -> np.ndarray:
    """Mid-rank in the reference CDF (linear between quantiles), as a standard normal score."""
    q, n = reference.quantiles, len(reference.quantiles)
    lo = np.searchsorted(q, values, side="left")
    inside = np.clip(lo, 1, n - 1)
    below = q[inside - 1]
    span = q[inside] - below
    frac = np.divide(values - below, span, out=np.zeros_like(values), where=span > 0)
    cdf = GRID[inside - 1] + np.clip(frac, 0.0, 1.0) * _GRID_STEP[inside - 1]
    cdf[lo == 0] = 0.0
    cdf[lo == n] = 1.0
    # Values equal to a quantile take the mid-rank of its ties (such a value never has
    # lo == n, so this overrides the two lines above).
    tied = np.flatnonzero(q[np.minimum(lo, n - 1)] == values)
    if len(tied):
        # Their "right" search: q[lo] equals the value, so it ends where q[lo]'s run does.
        hi = np.searchsorted(q, q, side="right")[lo[tied]]
        first, last = np.clip(lo[tied], 0, n - 1), np.clip(hi - 1, 0, n - 1)
        cdf[tied] = (GRID[first] + GRID[last]) / 2.0
    edge = 0.5 / (reference.count + 1.0)
    return np.asarray(ndtri(np.clip(cdf, edge, 1.0 - edge)))


def _smoothed(counts: np.ndarray) -> np.ndarray:
    return np.asarray((counts + 0.5) / (counts.sum() + 0.5 * len(counts)))


def _reference(probs: np.ndarray) -> np.ndarray:
    p = np.maximum(probs, _PROB_FLOOR)
    return np.asarray(p / p.sum())


def psi_js(counts: np.ndarray, probs: np.ndarray, alpha: float, widen: float) -> list[TestResult]:
    """Population stability index and Jensen-Shannon distance of window counts vs shares."""
    n = float(counts.sum())
    q, p = _smoothed(counts), _reference(probs)
    level = chi2_level(alpha, int((probs > 0).sum())) * widen
    psi = float(((q - p) * np.log(q / p)).sum())
    mid = (q + p) / 2.0
    jsd = 0.5 * float((q * np.log(q / mid)).sum() + (p * np.log(p / mid)).sum())
    return [
        TestResult("psi", psi, level / n),
        TestResult("js", math.sqrt(max(jsd, 0.0)), math.sqrt(level / (8.0 * n))),
    ]


def chi_square(counts: np.ndarray, probs: np.ndarray, alpha: float, widen: float) -> TestResult:
    """Pearson goodness of fit of window counts to the reference shares."""
    n = float(counts.sum())
    expected = n * _reference(probs)
    stat = float(((counts - expected) ** 2 / expected).sum())
    return TestResult("chi_square", stat, chi2_level(alpha, int((probs > 0).sum())) * widen)


def binned_tests(
    counts: np.ndarray,
    probs: np.ndarray,
    edges: np.ndarray,
    std: float,
    alpha: float,
    reference_count: int,
    inflation: float = 1.0,
) -> list[TestResult]:
    """PSI, JS, KS and normalised Wasserstein of a numeric window over the reference bins."""
    n = float(counts.sum())
    widen = (1.0 + n / reference_count) * inflation
    results = psi_js(counts, probs, alpha, widen)
    gap = np.abs(np.cumsum(counts / n)[:-1] - np.cumsum(probs)[:-1])
    ks_level = math.sqrt(math.log(2.0 / alpha) / (2.0 * n) * widen)
    results.append(TestResult("ks", float(gap.max()) if len(gap) else 0.0, ks_level))
    if len(edges) >= 2 and std > 0:
        widths = np.diff(edges)
        span = float(edges[-1] - edges[0])
        wasserstein = float((gap[:-1] * widths).sum() / std)
        results.append(TestResult("wasserstein", wasserstein, ks_level * span / std))
    return results


def categorical_tests(
    counts: np.ndarray,
    probs: np.ndarray,
    alpha: float,
    reference_count: int,
    inflation: float = 1.0,
) -> list[TestResult]:
    """Chi-square, PSI and JS of a categorical window against the reference shares."""
    n = float(counts.sum())
    widen = (1.0 + n / reference_count) * inflation
    return [chi_square(counts, probs, alpha, widen), *psi_js(counts, probs, alpha, widen)]


def beyond_range_check(above: int, below: int, n: int, reference: int, alpha: float) -> TestResult:
    """Values above the reference maximum or below its minimum, each side at ``alpha / 2``: the
    number of ``n`` new values beyond the extreme of ``reference`` exchangeable ones is
    ``BetaBinomial(n, 1, reference)``."""
    limit = critical_count(n, 1.0, float(reference), alpha / 2.0)
    worst = max(above, below)
    return TestResult("out_of_range", worst / n, (limit - 0.5) / n)


def constant_check(n_values: int, spread: float, mode_share: float, alpha: float) -> TestResult:
    """A window whose values are all equal, when the reference makes that implausible.

    ``mode_share`` is the share of the reference's most frequent value: all ``n`` values equal
    by chance has probability at most ``mode_share ** n``.
    """
    plausible = n_values < 2 or mode_share >= 1.0 or mode_share**n_values >= alpha
    return TestResult("constant", 1.0 if spread == 0.0 and not plausible else 0.0, 0.5)
