"""Data-quality checks of one window: counts that should stay near their reference rate.

Each check counts events of a kind in a window of ``n`` (missing values, type errors, values
beyond the reference range or configured bounds, never-seen categories) and asks whether that
many are plausible given the reference, which saw ``k`` of ``N``. The reference rate is itself an
estimate, so the count is judged against the *predictive* distribution: beta-binomial with
Jeffreys' prior, ``BetaBinomial(n, k + 1/2, N - k + 1/2)``. "Never seen in N" is therefore not
"impossible", and a rate estimated from a small warm-up gets a wider margin.

Values beyond the reference's own extremes use the exact exchangeable result: the number of ``n``
new values above the maximum of ``N`` is ``BetaBinomial(n, 1, N)`` (likewise below the minimum).

The alert's ``value`` is the observed rate and ``threshold`` the rate the check rejects at, so
``value > threshold`` reads naturally.

>>> rate_check("missing_rate", 50, 500, 10, 1000, 1e-7).fired
True
>>> rate_check("missing_rate", 9, 500, 10, 1000, 1e-7).fired
False
"""

from __future__ import annotations

from functools import lru_cache

from scipy.stats import betabinom

from detector.detectors.distribution import TestResult


@lru_cache(maxsize=65_536)
def critical_count(n: int, a: float, b: float, alpha: float) -> int:
    """Smallest count c with P(BetaBinomial(n, a, b) >= c) < alpha (cached: windows repeat)."""
    return int(betabinom.isf(alpha, n, a, b)) + 1


def rate_prior(seen: float, reference: int) -> tuple[float, float]:
    """The predictive beta-binomial's (a, b) after ``seen`` of ``reference`` (Jeffreys' prior)."""
    seen = round(min(max(seen, 0.0), float(reference)), 6)
    return seen + 0.5, reference - seen + 0.5


def rate_check(
    name: str, count: int, n: int, seen: float, reference: int, alpha: float
) -> TestResult:
    """Is ``count`` of ``n`` implausibly many, when the reference saw ``seen`` of ``reference``?"""
    limit = critical_count(n, *rate_prior(seen, reference), alpha)
    return TestResult(name, count / n, (limit - 0.5) / n)


def beyond_range_check(above: int, below: int, n: int, reference: int, alpha: float) -> TestResult:
    """Values above the reference maximum or below its minimum, each side at ``alpha / 2``."""
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
