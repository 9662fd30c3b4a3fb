"""Window-versus-reference distribution tests: what they return, and why their thresholds are what
they are.

The series cores compute the statistics (in Rust, ``native/src``: the product);
:mod:`detector.testing.oracles` states them in numpy for the differential tests. What stays here
is what Python needs: :class:`TestResult`, the type every test and check reports in, and
:func:`chi2_level`, the chi-square level the cores' thresholds scale from (a scipy call, made
once per series).

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

>>> TestResult("psi", 0.3, 0.2).fired, round(chi2_level(0.01, 10), 2)
(True, 21.67)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from scipy.stats import chi2


@dataclass(frozen=True)
class TestResult:
    """One statistic of one window, with the level it had to exceed."""

    name: str
    value: float
    threshold: float

    @property
    def fired(self) -> bool:
        return self.value > self.threshold


@lru_cache(maxsize=4096)
def chi2_level(alpha: float, cells: int) -> float:
    """``chi2.isf(alpha, cells - 1)``, the level the tests' statistics scale from (cached:
    scipy's isf costs ~0.2 ms)."""
    return float(chi2.isf(alpha, max(cells - 1, 1)))
