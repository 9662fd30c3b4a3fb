"""ADWIN wrapper, normal-score reference and the categorical test."""

from __future__ import annotations

import numpy as np
from river.drift import ADWIN

from detector.detectors.adwin import Adwin
from detector.reference import CategoricalReference, NumericReference
from detector.testing.oracles import binned_tests, categorical_tests, normal_scores


def test_adwin_wrapper_matches_river_per_event() -> None:
    """Batch feeding gives the same detection indexes as river's ADWIN fed one by one."""
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 1, 4000), rng.normal(1, 1, 4000), rng.normal(0, 1, 4000)])
    expected = []
    river = ADWIN(delta=1e-3)
    for i, value in enumerate(x.tolist()):
        river.update(value)
        if river.drift_detected:
            expected.append(i)
    wrapper, found = Adwin(delta=1e-3), []
    for start in range(0, len(x), 777):
        found += [start + i for i in wrapper.update_many(x[start : start + 777])]
    assert len(expected) >= 2
    assert found == expected


def test_normal_scores_do_not_depend_on_scale_or_location() -> None:
    """Ranks make the transform invariant to any increasing affine map of the feature."""
    rng = np.random.default_rng(4)
    sample, live = rng.standard_t(3, 1000), rng.standard_t(3, 5000)
    base = normal_scores(NumericReference.from_sample(sample), live)
    for scale, loc in [(1e-3, 5.0), (1e3, -7.0)]:
        scaled = normal_scores(
            NumericReference.from_sample(sample * scale + loc), live * scale + loc
        )
        np.testing.assert_allclose(scaled, base)


def test_normal_scores_are_standardised_under_no_change() -> None:
    """From the same distribution, scores have mean ~0 and variance ~1 even for heavy tails."""
    rng = np.random.default_rng(8)
    scores = normal_scores(
        NumericReference.from_sample(rng.pareto(1.5, 1000)), rng.pareto(1.5, 100_000)
    )
    assert abs(scores.mean()) < 0.1
    assert 0.85 < scores.var() < 1.05


def test_discrete_values_get_mid_ranks() -> None:
    """Ties shrink the score variance (never inflate it), keeping thresholds conservative."""
    rng = np.random.default_rng(9)
    reference = NumericReference.from_sample(rng.integers(0, 3, 1000).astype(float))
    scores = normal_scores(reference, rng.integers(0, 3, 10_000).astype(float))
    assert len(np.unique(scores)) == 3
    assert scores.var() < 1.0


def test_categorical_reference_pools_rare_and_unseen_categories() -> None:
    """Categories below the minimum count and unseen ones share the other bucket."""
    ref = CategoricalReference.from_sample(["a"] * 60 + ["b"] * 30 + ["rare"] * 2, top=10)
    assert ref.categories == ["a", "b"]
    assert ref.encode(["b", "rare", "never-seen", "a"]).tolist() == [1, 2, 2, 0]
    assert "rare" in ref.known and "never-seen" not in ref.known


def test_categorical_tests_are_calibrated_and_powerful() -> None:
    """At level 1% about 1% of unchanged windows fail; a 10% -> 30% share shift always does."""
    rng = np.random.default_rng(12)
    shares = np.array([0.1, 0.4, 0.3, 0.2])
    reference = rng.multinomial(1000, shares)
    probs = reference / reference.sum()
    fired = [
        [r.fired for r in categorical_tests(rng.multinomial(500, shares), probs, 0.01, 1000)]
        for _ in range(2000)
    ]
    assert 0.004 < np.mean(fired) < 0.02
    moved = np.array([0.3, 0.4 * 7 / 9, 0.3 * 7 / 9, 0.2 * 7 / 9])
    results = categorical_tests(rng.multinomial(500, moved), probs, 1e-7, 1000)
    assert all(r.fired for r in results)


def test_binned_tests_are_calibrated_at_any_window_size() -> None:
    """Thresholds scale with n: unchanged windows of 200 or 5,000 fail about as often as alpha."""
    rng = np.random.default_rng(13)
    ref = NumericReference.from_sample(rng.standard_t(3, 100_000))
    for n in (200, 5000):
        fired = []
        for _ in range(1000):
            x = rng.standard_t(3, n)
            counts = np.bincount(
                np.searchsorted(ref.bin_edges, x, side="right"), minlength=len(ref.bin_probs)
            )
            tests = binned_tests(counts, ref.bin_probs, ref.bin_edges, ref.std, 0.01, ref.count)
            fired.append(any(t.fired for t in tests))
        assert np.mean(fired) < 0.03


def test_binned_tests_catch_a_variance_doubling() -> None:
    """Same mean, twice the variance: the binned tests fire where mean detectors cannot."""
    rng = np.random.default_rng(14)
    ref = NumericReference.from_sample(rng.normal(size=100_000))
    x = rng.normal(scale=np.sqrt(2.0), size=500)
    counts = np.bincount(np.searchsorted(ref.bin_edges, x, side="right"), minlength=10)
    fired = {
        t.name
        for t in binned_tests(counts, ref.bin_probs, ref.bin_edges, ref.std, 1e-7, ref.count)
        if t.fired
    }
    assert {"psi", "js"} <= fired
