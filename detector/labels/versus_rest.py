"""Is a segment's error rate significantly worse than the rest of the traffic's?

Fisher's exact test, one-sided: given ``n_s`` labelled events of the segment with ``e_s``
errors and ``n_r`` of the rest with ``e_r``, and the total errors fixed, the segment's error
count is hypergeometric under "same error rate". The segment is worse when ``e_s`` reaches the
critical count ``c``, the smallest count whose upper tail is below ``alpha``. The test is exact
at any sample size (no normal approximation), which matters at the small levels the false-alarm
budget asks for. It runs only when both sides have at least ``min_labels`` labelled events.

The result reads like the quality checks: ``value`` is the segment's error rate and
``threshold`` the rate it had to exceed, ``(c - 0.5) / n_s``.

>>> segment_worse(200, 50, 3800, 380, 1e-6, 100).fired  # 25% against 10%
True
>>> segment_worse(200, 24, 3800, 380, 1e-6, 100).fired  # 12% against 10%
False
>>> segment_worse(50, 40, 3800, 380, 1e-6, 100) is None  # too few labelled events
True
"""

from __future__ import annotations

from functools import lru_cache

from scipy.stats import hypergeom

from detector.detectors.distribution import TestResult

NAME = "fisher_exact"


@lru_cache(maxsize=65_536)
def critical_errors(total: int, errors: int, segment: int, alpha: float) -> int:
    """Smallest segment error count ``c`` with ``P(X >= c) < alpha`` for the hypergeometric
    ``X`` (``total`` events, ``errors`` of them errors, ``segment`` drawn)."""
    return int(hypergeom.isf(alpha, total, errors, segment)) + 1


def segment_worse(
    n_segment: int, e_segment: int, n_rest: int, e_rest: int, alpha: float, min_labels: int
) -> TestResult | None:
    """The one-sided test at ``alpha``, or ``None`` when a side has too few labelled events."""
    if n_segment < min_labels or n_rest < min_labels:
        return None
    total, errors = n_segment + n_rest, e_segment + e_rest
    limit = critical_errors(total, errors, n_segment, alpha)
    return TestResult(NAME, e_segment / n_segment, (limit - 0.5) / n_segment)
