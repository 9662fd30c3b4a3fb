"""The segment-versus-rest test: exact, one-sided, and within its level under no difference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import fisher_exact

from detector.labels.versus_rest import critical_errors, segment_worse


@pytest.mark.parametrize(
    ("n_s", "n_r", "errors"), [(200, 3800, 400), (1000, 19000, 2000), (250, 250, 30)]
)
def test_critical_count_is_where_fishers_p_value_crosses_alpha(
    n_s: int, n_r: int, errors: int
) -> None:
    """At the critical count scipy's one-sided Fisher p-value is below alpha, one less is not."""
    alpha = 1e-4
    c = critical_errors(n_s + n_r, errors, n_s, alpha)

    def p_value(e_s: int) -> float:
        table = [[e_s, n_s - e_s], [errors - e_s, n_r - (errors - e_s)]]
        return float(fisher_exact(table, alternative="greater").pvalue)

    assert p_value(c) < alpha
    assert p_value(c - 1) >= alpha


def test_false_alarm_rate_stays_within_the_level() -> None:
    """Under equal error rates, 3,000 tests at alpha=0.05 fire at most about 5% of the time."""
    rng = np.random.default_rng(9)
    alpha, fired, runs = 0.05, 0, 3000
    for _ in range(runs):
        n_s = int(rng.integers(200, 1000))
        e_s = int(rng.binomial(n_s, 0.1))
        e_r = int(rng.binomial(10_000, 0.1))
        result = segment_worse(n_s, e_s, 10_000, e_r, alpha, 100)
        assert result is not None
        fired += result.fired

    assert 0 < fired / runs < alpha * 1.2  # Fisher's test is conservative on discrete data


def test_better_segment_never_fires() -> None:
    """One-sided: a segment doing better than the rest is not an alarm."""
    result = segment_worse(1000, 10, 19000, 1900, 0.01, 100)

    assert result is not None and not result.fired
