"""The series cores compute the rate checks' critical counts in Rust (``checks::critical_count``),
without calling back into Python: they must equal scipy's, ``detector.quality.critical_count``,
which the Python checks use."""

from __future__ import annotations

import random

import pytest

from detector import _native
from detector.quality import critical_count, rate_prior


def _cases() -> list[tuple[int, float, float, float]]:
    cases = []
    for n in (1, 2, 5, 10, 50, 100, 200, 500, 1000, 2000, 5000):
        for reference in (1_000, 10_000, 100_000, 1_000_000):
            for rate in (0.0, 1e-5, 1e-3, 0.01, 0.05, 0.2, 0.5):
                for alpha in (1e-2, 1e-3, 5e-4, 1e-4, 1e-5, 1e-7, 5e-8):
                    cases.append((n, *rate_prior(rate * reference, reference), alpha))
                    cases.append((n, 1.0, float(reference), alpha / 2))  # beyond the range
    rng = random.Random(1)
    for _ in range(1500):
        reference = rng.randint(100, 2_000_000)
        prior = rate_prior(rng.random() ** 3 * reference, reference)
        cases.append((rng.randint(1, 3000), *prior, 10 ** rng.uniform(-9, -1)))
    return cases


def test_the_cores_critical_counts_are_scipys() -> None:
    cases = _cases()
    differ = [c for c in cases if _native.critical_count(*c) != critical_count(*c)]
    assert differ == [], f"{len(differ)} of {len(cases)} differ, e.g. {differ[:3]}"


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_levels_at_the_ends(alpha: float) -> None:
    # isf(0) is the support's end (n), isf(1) one below its start.
    assert _native.critical_count(10, 0.5, 100.5, alpha) == (11 if alpha == 0.0 else 0)
