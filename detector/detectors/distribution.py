"""Window-versus-reference distribution tests with thresholds that scale with the window size.

Every statistic is compared with the threshold its null distribution gives at the window's size
``n`` and the per-test level ``alpha``, so a 200-event window of unchanged data does not cross it
while a 20,000-event window still catches small changes:

- chi-square (categorical): ``chi2.isf(alpha, k - 1)``;
- PSI: ``n * PSI`` is asymptotically chi-square with ``k - 1`` degrees of freedom (PSI is the
  symmetrised KL divergence, whose second-order term is the chi-square statistic over ``n``);
- Jensen-Shannon distance (natural log): ``JSD ~ chi2 / (8 n)``, so ``sqrt(chi2.isf / (8 n))``;
- Kolmogorov-Smirnov on the reference bin edges: the DKW inequality,
  ``P(sup |F_n - F| > e) <= 2 exp(-2 n e^2)``, an exact bound at any ``n``;
- Wasserstein-1 over the bins, divided by the reference standard deviation: it is at most the KS
  distance times the span of the interior edges, which gives a valid (conservative) threshold.

When the reference is itself a sample of ``N`` values (a warm-up rather than a large training
set), its own noise adds variance: thresholds are scaled by ``1 + n / N`` (``sqrt`` of that for
distances). Serially dependent data (AR(1) coefficient ``phi``, estimated from the reference and
the first live values) multiplies the variance of window counts by ``inflation`` =
``(1 + phi) / (1 - phi)``, and the thresholds by the same factor.

>>> import numpy as np
>>> probs = np.full(10, 0.1)
>>> quiet = np.array([50, 48, 52, 51, 49, 50, 50, 47, 53, 50])
>>> [r.name for r in binned_tests(quiet, probs, np.arange(9.0), 1.0, 1e-7, 100_000) if r.fired]
[]
>>> shifted = np.array([10, 20, 30, 40, 50, 60, 70, 80, 90, 50])
>>> [r.name for r in binned_tests(shifted, probs, np.arange(9.0), 1.0, 1e-7, 100_000) if r.fired]
['psi', 'js', 'ks', 'wasserstein']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import chi2

_PROB_FLOOR = 1e-6


@dataclass(frozen=True)
class TestResult:
    """One statistic of one window, with the level it had to exceed."""

    name: str
    value: float
    threshold: float

    @property
    def fired(self) -> bool:
        return self.value > self.threshold


def _smoothed(counts: np.ndarray) -> np.ndarray:
    return np.asarray((counts + 0.5) / (counts.sum() + 0.5 * len(counts)))


def _reference(probs: np.ndarray) -> np.ndarray:
    p = np.maximum(probs, _PROB_FLOOR)
    return np.asarray(p / p.sum())


@lru_cache(maxsize=4096)
def chi2_level(alpha: float, cells: int) -> float:
    """``chi2.isf(alpha, cells - 1)``, the level the tests' statistics scale from (cached:
    scipy's isf costs ~0.2 ms)."""
    return float(chi2.isf(alpha, max(cells - 1, 1)))


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
