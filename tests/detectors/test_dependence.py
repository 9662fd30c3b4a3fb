"""Serial dependence measured at the scale windows test (``detector._native.dependence``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import lfilter

from detector._native import block_dependence, dependence
from detector.reference import CategoricalReference, categorical_dependence


def _ar(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    return lfilter([1.0], [1.0, -phi], rng.normal(0.0, np.sqrt(1 - phi**2), n))


def _inflation(phi: float) -> float:
    return (1 + phi) / (1 - phi)


def _block_measure(
    reference: CategoricalReference, blocks: np.ndarray, scale: int
) -> Callable[[int, float], float | None]:
    """One category's dependence from its share in each block (as the baseline measures it)."""

    def measure(index: int, share: float) -> float | None:
        category = int(reference.categories[index])
        return block_dependence((blocks == category).mean(axis=1), scale, share * (1 - share))

    return measure


def test_independent_values_measure_none() -> None:
    """i.i.d. warm-ups of 1,000 values: no dependence in at least 9 of 10 seeds, and never
    more than a factor 1.5 (each estimate is kept only beyond its own noise)."""
    found = [dependence(np.random.default_rng(s).normal(size=1000), 500) for s in range(10)]
    assert sum(phi == 0.0 for phi in found) >= 9
    assert max(_inflation(phi) for phi in found) < 1.5


def test_ar1_measures_its_known_factor() -> None:
    """AR(1) phi 0.5 inflates window means 3x: measured between 2.2 and 4 on 1,000 values."""
    for seed in range(5):
        phi = dependence(_ar(np.random.default_rng(seed), 1000, 0.5), 500)
        assert 2.2 < _inflation(phi) < 4.0


def test_a_wandering_count_rate_is_seen_beyond_lag_one() -> None:
    """Poisson counts whose log-rate is AR(1) phi 0.9: lag 1 says about 1.5, the variance of
    500-value means is about 5x; the measure finds at least 3x on this 1,000-value warm-up and
    about 5x on a long training file (block means, or the long-run ratio where larger)."""
    rng = np.random.default_rng(3)
    counts = rng.poisson(np.exp(1.0 + 0.32 * _ar(rng, 200_000, 0.9))).astype(float)
    centred = counts - counts.mean()
    lag1 = float((centred[1:] * centred[:-1]).sum() / (centred**2).sum())
    assert _inflation(lag1) < 2.0
    blocks = counts[: len(counts) // 500 * 500].reshape(-1, 500).mean(axis=1)
    truth = 500 * blocks.var(ddof=1) / counts.var()
    assert 4.0 < truth < 6.5
    assert _inflation(dependence(counts[:1000], 500)) > 3.0
    assert truth * 0.95 < _inflation(dependence(counts, 500)) < truth * 1.2


def test_block_means_need_twenty_blocks_and_signal() -> None:
    """Batch means: None below 20 blocks; 0 for independent blocks; the factor otherwise
    (the largest over 1, 4 and 16 blocks at a time, so somewhat above it)."""
    rng = np.random.default_rng(5)
    assert block_dependence(rng.normal(size=19), 500, 500.0) is None
    assert block_dependence(rng.normal(0, np.sqrt(1 / 500), 400), 500, 1.0) == 0.0
    phi = block_dependence(rng.normal(0, np.sqrt(4 / 500), 400), 500, 1.0)
    assert phi is not None and 3.2 < _inflation(phi) < 6.5


def test_categorical_dependence_from_the_indicators() -> None:
    """Shares that wander (Dirichlet, new every 1,000 events) inflate window counts: the
    measure from block shares of a training file says so; i.i.d. draws measure none."""
    rng = np.random.default_rng(7)
    base, n, scale = np.array([0.2, 0.4, 0.4]), 200_000, 500
    shares = rng.dirichlet(base * 600, n // 1000)[np.arange(n) // 1000]
    wandering = (rng.random(n)[:, None] > np.cumsum(shares, axis=1)).sum(axis=1)
    steady = rng.choice(3, n, p=base)
    for codes, expect_dependent in ((wandering, True), (steady, False)):
        texts = [str(c) for c in codes]
        reference = CategoricalReference.from_sample(texts, top=5)
        blocks = codes.reshape(-1, scale)

        phi = categorical_dependence(reference, _block_measure(reference, blocks, scale))
        assert (_inflation(phi) > 1.5) is expect_dependent
