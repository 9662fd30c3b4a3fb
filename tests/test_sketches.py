"""Sketches are mergeable (merge of parts == sketch of the whole) and bounded in memory."""

from __future__ import annotations

import numpy as np
import pytest

from detector.sketches import CategoryCounts, Histogram, Moments, NumericSketch, QuantileSketch


@pytest.fixture
def parts() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.lognormal(0, 2, 7000) * rng.choice([-1, 1], 7000), rng.standard_t(2, 5000) * 50


def test_merge_equals_sketch_of_the_union(parts: tuple[np.ndarray, np.ndarray]) -> None:
    """Moments (to rounding), histogram and quantile buckets (exactly) of a + b == of a ++ b."""
    a, b = parts
    edges = np.quantile(np.concatenate(parts), np.linspace(0.1, 0.9, 9))
    left, right, whole = NumericSketch(edges), NumericSketch(edges), NumericSketch(edges)
    left.update(a)
    right.update(b)
    whole.update(np.concatenate([a, b]))
    left.merge(right)
    assert left.histogram.counts.tolist() == whole.histogram.counts.tolist()
    assert left.quantiles.positive == whole.quantiles.positive
    assert left.quantiles.negative == whole.quantiles.negative
    assert left.moments.count == whole.moments.count == 12_000
    assert left.moments.mean == pytest.approx(whole.moments.mean, rel=1e-12)
    assert left.moments.std == pytest.approx(whole.moments.std, rel=1e-12)
    assert (left.moments.min, left.moments.max) == (whole.moments.min, whole.moments.max)


def test_quantiles_are_within_relative_accuracy(parts: tuple[np.ndarray, np.ndarray]) -> None:
    """DDSketch quantiles are within 1% (relative) of the exact ones."""
    values = np.abs(parts[0]) + 1e-3
    sketch = QuantileSketch(alpha=0.01)
    sketch.update(values)
    for q in (0.01, 0.25, 0.5, 0.9, 0.99):
        exact = float(np.quantile(values, q, method="lower"))
        assert abs(sketch.quantile(q) - exact) <= 0.011 * exact


def test_quantile_sketch_memory_is_bounded() -> None:
    """Values over 600 orders of magnitude still fit in max_buckets buckets per sign."""
    sketch = QuantileSketch(max_buckets=512)
    sketch.update(10.0 ** np.random.default_rng(1).uniform(-300, 300, 200_000))
    assert len(sketch.positive) <= 512 and sketch.count == 200_000
    assert sketch.quantile(0.99) > 1e280  # the upper quantiles keep their accuracy


def test_category_counts_merge_and_pool_unknown_values() -> None:
    """Counts over a fixed vocabulary add up; unknown values land in the last (other) cell."""
    left, right = CategoryCounts(["a", "b"]), CategoryCounts(["a", "b"])
    left.update(["a", "x", "b"])
    right.update(["b", "b", "y"])
    left.merge(right)
    assert left.counts.tolist() == [1, 3, 2]
    with pytest.raises(ValueError, match="different vocabularies"):
        left.merge(CategoryCounts(["a"]))


def test_histograms_with_other_edges_do_not_merge() -> None:
    """Merging histograms over different bins would be meaningless: refused."""
    with pytest.raises(ValueError, match="different bin edges"):
        Histogram(np.array([0.0])).merge(Histogram(np.array([1.0])))
    moments = Moments()
    moments.update(np.array([]))
    assert moments.count == 0 and moments.std == 0.0
