"""Performance metrics against plain textbook computations, batch by batch or all at once."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from detector.labels.metrics import MetricAccumulator


def _binary_reference(y: list[int], p: list[float]) -> dict[str, float]:
    """Accuracy, precision, recall, F1, log loss and 10-bin ECE, one pair at a time."""
    pred = [1 if s >= 0.5 else 0 for s in p]
    tp = sum(1 for a, b in zip(y, pred, strict=True) if a == b == 1)
    fp = sum(1 for a, b in zip(y, pred, strict=True) if a == 0 and b == 1)
    fn = sum(1 for a, b in zip(y, pred, strict=True) if a == 1 and b == 0)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    bins: dict[int, list[tuple[int, float]]] = {}
    for a, s in zip(y, p, strict=True):
        bins.setdefault(min(int(s * 10), 9), []).append((a, s))
    ece = sum(
        len(m) / len(y) * abs(sum(a for a, _ in m) / len(m) - sum(s for _, s in m) / len(m))
        for m in bins.values()
    )
    loss = -sum(a * math.log(s) + (1 - a) * math.log(1 - s) for a, s in zip(y, p, strict=True))
    return {
        "accuracy": sum(1 for a, b in zip(y, pred, strict=True) if a == b) / len(y),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "log_loss": loss / len(y),
        "ece": ece,
    }


def test_binary_metrics_match_reference_in_any_batching() -> None:
    """5,000 scored pairs added in uneven batches give the reference metrics."""
    rng = np.random.default_rng(5)
    y = (rng.random(5000) < 0.3).astype(int).tolist()
    p = np.clip(rng.beta(2, 5, 5000) + 0.3 * np.array(y), 0.001, 0.999).tolist()
    acc = MetricAccumulator("binary")
    cuts = [0, 1, 17, 2500, 4999, 5000]
    for a, b in itertools.pairwise(cuts):
        predicted = ["1" if s >= 0.5 else "0" for s in p[a:b]]
        acc.add(predicted, [str(v) for v in y[a:b]], np.asarray(p[a:b]))

    got = acc.metrics()

    expected = _binary_reference(y, p)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert got["error_rate"] == pytest.approx(1 - expected["accuracy"])
    assert got["count"] == 5000


def test_multiclass_macro_averages() -> None:
    """Macro precision, recall and F1 over the classes seen, without scores."""
    actual = ["a", "a", "b", "b", "c", "c", "c"]
    predicted = ["a", "b", "b", "b", "c", "a", "c"]
    acc = MetricAccumulator("categorical")
    acc.add(predicted, actual, np.full(7, np.nan))

    got = acc.metrics()

    precision = (1 / 2 + 2 / 3 + 2 / 2) / 3
    recall = (1 / 2 + 2 / 2 + 2 / 3) / 3
    f1 = (2 * 0.5 * 0.5 / 1.0 + 2 * (2 / 3) / (5 / 3) + 2 * (2 / 3) / (5 / 3)) / 3
    assert got["accuracy"] == pytest.approx(5 / 7)
    assert got["precision"] == pytest.approx(precision)
    assert got["recall"] == pytest.approx(recall)
    assert got["f1"] == pytest.approx(f1)
    assert "log_loss" not in got and "ece" not in got


def test_regression_metrics_and_tolerance() -> None:
    """MAE, RMSE, and the share of absolute errors above the tolerance."""
    actual = [1.0, 2.0, 3.0, 4.0]
    predicted = [1.5, 2.0, 1.0, 4.1]
    acc = MetricAccumulator("numeric", tolerance=0.4)
    acc.add(predicted, actual, np.full(4, np.nan))

    got = acc.metrics()

    assert got["mae"] == pytest.approx((0.5 + 0 + 2.0 + 0.1) / 4)
    assert got["rmse"] == pytest.approx(math.sqrt((0.25 + 0 + 4.0 + 0.01) / 4))
    assert got["error_rate"] == pytest.approx(0.5)


def test_empty_accumulator_reports_nothing() -> None:
    """No pairs, no metrics (rather than zeros that look like a broken model)."""
    assert MetricAccumulator("binary").metrics() == {}
