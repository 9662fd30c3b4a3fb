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

Who computes what. The feature series' checks run in their Rust cores (``native/src``:
the rate checks with the critical counts of :func:`critical_count`, the range and constant
checks); this module gives them :func:`critical_count` and their priors (:func:`rate_prior`).
:func:`rate_check` is the performance series' own check (``detector.labels.series``, which
runs in Python); ``tests/test_differential.py`` checks that it equals the cores' on random
windows. The range and constant checks' numpy versions are test oracles
(:mod:`detector.testing.oracles`).

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
    """Is ``count`` of ``n`` implausibly many, when the reference saw ``seen`` of ``reference``?

    The performance series' check (the feature series' cores compute the same in Rust)."""
    limit = critical_count(n, *rate_prior(seen, reference), alpha)
    return TestResult(name, count / n, (limit - 0.5) / n)
