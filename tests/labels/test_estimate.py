"""Estimated performance before labels (CBPE, DLE) on seeded streams, through the real engine.

Figures these tests hold (docs/estimated-performance.md quotes them): windows of 1,000
predictions, baselines of 50,000 labelled training rows from another seed.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from detector import Monitor
from detector.alerts import AlertEvent, alert_bytes
from detector.baseline import Baseline
from detector.config import parse_config
from detector.errors import ConfigError
from detector.labels.calibration import isotonic
from detector.replay import replay
from detector.testing.estimated import ClassStream, RegressionStream, Shift
from detector.testing.joint import ConceptChange, CovariateShift, JointStream

N, START, WINDOW = 60_000, 30_000, 1000
SHIFT = [CovariateShift(START, "amount", shrink=0.3)]


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return Monitor.baseline_from(JointStream().config(), JointStream(seed=99).training(50_000))


def _estimated(alerts: list[dict[str, Any]], segment: dict[str, str] | None = None) -> list[Any]:
    return [
        a["data"]
        for a in alerts
        if a["data"]["feature"] == "estimated_performance"
        and (segment is None or a["data"]["segment"] == segment)
    ]


def _window_means(values: np.ndarray) -> np.ndarray:
    return values[: len(values) // WINDOW * WINDOW].reshape(-1, WINDOW).mean(axis=1)


def _oracle(y: np.ndarray) -> np.ndarray:
    """Isotonic regression by its min-max formula: f_i = max_{j<=i} min_{k>=i} mean(y[j..k])."""
    n = len(y)
    return np.array(
        [max(min(y[j : k + 1].mean() for k in range(i, n)) for j in range(i + 1)) for i in range(n)]
    )


def test_isotonic_equals_the_min_max_formula() -> None:
    """PAV's fit equals the brute-force min-max solution on random data, and is monotone."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.permutation(40).astype(float)
        y = rng.random(40) + 0.02 * x
        xs, ys = isotonic(x, y)
        fitted = np.interp(np.sort(x), xs, ys)
        np.testing.assert_allclose(fitted, _oracle(y[np.argsort(x)]), atol=1e-12)
        assert np.all(np.diff(ys) >= 0) and np.all(np.diff(xs) >= 0)


def test_calibration_of_calibrated_scores_is_near_identity(baseline: Baseline) -> None:
    """JointStream's scores are calibrated: the fitted map stays within 0.05 of identity."""
    assert baseline.labels is not None
    table = baseline.labels["calibration"]
    grid = np.linspace(0.05, 0.95, 19)
    assert np.max(np.abs(np.interp(grid, table["xs"], table["ys"]) - grid)) < 0.05


def test_cbpe_fires_on_covariate_shift_without_labels(baseline: Baseline) -> None:
    """No labels: the cbpe alert fires in the first window after the shift (all traffic and
    each country), never before; estimated accuracy tracks the realised one per window."""
    stream = JointStream(seed=1)
    monitor = Monitor(stream.config(), baseline)
    alerts = monitor.process(stream.events(N, SHIFT))
    fired = _estimated(alerts)
    assert {(d["detector"], d["status"], d["estimated"]) for d in fired} == {
        ("cbpe", "firing", True)
    }
    everywhere = _estimated(alerts, {})
    assert [d["series_events"] for d in everywhere] == [START + WINDOW]
    assert everywhere[0]["statistic"] == "estimated_accuracy"
    assert "estimated accuracy" in everywhere[0]["summary"]
    assert len(fired) == 4  # all traffic and three countries, once each
    cols = stream.columns(N, SHIFT)
    realised = _window_means((cols["predicted"] == cols["label"]).astype(float))
    history = monitor.engine.performance.estimates[(None, None)].history  # type: ignore[union-attr]
    estimate = np.array([m["accuracy"] for _, m in history])
    gap = np.abs(estimate - realised)
    assert gap.mean() < 0.02
    assert np.all(gap < 4 * np.sqrt(realised * (1 - realised) / WINDOW) + 0.01)
    assert abs(estimate[30:].mean() - realised[30:].mean()) < 0.01  # no bias after the shift


def test_stationary_stream_stays_silent(baseline: Baseline) -> None:
    """200,000 stationary predictions (200 all-traffic windows, ~200 segment windows): no
    estimated-performance alert."""
    stream = JointStream(seed=2)
    monitor = Monitor(stream.config(), baseline)
    alerts = monitor.process(stream.events(200_000))
    assert _estimated(alerts) == []
    estimates = monitor.engine.performance.estimates  # type: ignore[union-attr]
    assert sum(len(s.history) for s in estimates.values()) >= 395


def test_concept_change_is_invisible_to_the_estimate(baseline: Baseline) -> None:
    """Flipped labels (concept change): the realised error alert fires, the estimate does not
    move; the documented limitation, tested."""
    stream = JointStream(seed=4)
    change = [ConceptChange(START, flip=0.15)]
    monitor = Monitor(stream.config(), baseline)
    alerts = monitor.process(stream.events(N, change), labels=stream.labels(N, change))
    assert _estimated(alerts) == []
    realised = [a["data"] for a in alerts if a["data"]["feature"] == "error"]
    assert realised and realised[0]["detector"] == "adwin" and not realised[0]["estimated"]
    performance = monitor.engine.performance
    assert performance is not None
    estimate = [m["accuracy"] for _, m in performance.estimates[(None, None)].history]
    measured = [m["accuracy"] for _, m in performance.series[(None, None)].history]
    assert np.mean(estimate[35:]) - np.mean(measured[35:]) > 0.05


def test_dle_fires_when_predictions_move_where_errors_are_larger() -> None:
    """Regression: predictions shifted to where the errors are larger; the dle alert fires
    after the shift and estimated MAE tracks the realised MAE."""
    stream, shift = RegressionStream(seed=1), [Shift(START, shift=1.0)]
    base = Monitor.baseline_from(stream.config(), RegressionStream(seed=99).training(50_000))
    monitor = Monitor(stream.config(), base)
    alerts = monitor.process(stream.events(N, shift))
    everywhere = _estimated(alerts, {})
    assert [(d["detector"], d["statistic"], d["series_events"]) for d in everywhere] == [
        ("dle", "estimated_mae", START + WINDOW)
    ]
    cols = stream.columns(N, shift)
    realised = _window_means(np.abs(cols["label"] - cols["predicted"]))
    history = monitor.engine.performance.estimates[(None, None)].history  # type: ignore[union-attr]
    estimate = np.array([m["mae"] for _, m in history])
    assert np.abs(estimate[:30] - realised[:30]).mean() < 0.02
    assert np.abs(estimate[30:] - realised[30:]).mean() < 0.04  # flat beyond training's range


def test_multi_class_estimate_tracks_accuracy() -> None:
    """Three classes with the predicted class's probability: estimated accuracy tracks the
    realised one, before and after a shift towards the class boundaries, which fires cbpe."""
    stream, shift = ClassStream(seed=1), [Shift(START, shrink=0.6)]
    base = Monitor.baseline_from(stream.config(), ClassStream(seed=99).training(50_000))
    monitor = Monitor(stream.config(), base)
    alerts = monitor.process(stream.events(N, shift))
    assert [d["series_events"] for d in _estimated(alerts, {})] == [START + WINDOW]
    cols = stream.columns(N, shift)
    realised = _window_means((cols["label"] == cols["predicted"]).astype(float))
    history = monitor.engine.performance.estimates[(None, None)].history  # type: ignore[union-attr]
    estimate = np.array([m["accuracy"] for _, m in history])
    assert np.abs(estimate - realised).mean() < 0.02


def test_replay_api_batches_and_restore_agree(baseline: Baseline, tmp_path: Path) -> None:
    """replay, the Monitor in one call, in uneven calls and with small batches, and a Monitor
    restored from mid-stream state all give the same alerts, byte for byte."""
    stream = JointStream(seed=1)
    path = tmp_path / "baseline.json"
    path.write_bytes(baseline.to_json())
    config = {**stream.config(), "baseline": str(path)}
    events = stream.events(40_000, [CovariateShift(20_000, "amount", shrink=0.3)])
    lines = [orjson.dumps(e) for e in events]
    out: list[AlertEvent] = []
    replay(parse_config(config), lines, out.append)
    expected = [alert_bytes(a) for a in out]
    assert any(b'"cbpe"' in a for a in expected)

    def dumped(alerts: list[dict[str, Any]]) -> list[bytes]:
        return [orjson.dumps(a) for a in alerts]

    assert dumped(Monitor(config).process(events)) == expected
    small = Monitor({**config, "run": {"batch_size": 137}})
    cut = [0, 999, 1000, 7_777, 20_500, 31_313, 40_000]
    got = [a for lo, hi in itertools.pairwise(cut) for a in small.process(events[lo:hi])]
    assert dumped(got) == expected
    first = Monitor(config)
    alerts = first.process(events[:20_700])
    second = Monitor.restore(first.state(), config)
    alerts += second.process(events[20_700:])
    assert dumped(alerts) == expected


def test_identity_calibration_warms_up_without_a_baseline() -> None:
    """calibration: identity, no baseline: the first windows make the reference, then the
    shift fires cbpe."""
    stream = JointStream(seed=1)
    config = {**stream.config(), "performance": {"estimate": {"calibration": "identity"}}}
    alerts = Monitor(config).process(stream.events(N, SHIFT))
    assert [d["series_events"] for d in _estimated(alerts, {})] == [START + WINDOW]


def test_estimate_off_without_calibration_and_config_errors() -> None:
    """Without a baseline calibration the estimate is off (and says why); enabled: true then
    fails at start, and bad fields are named."""
    stream = JointStream(seed=1)
    monitor = Monitor(stream.config())
    assert monitor.engine.performance is not None
    assert monitor.engine.performance.context.estimate is None
    assert "labels.calibration" in monitor.engine.performance.context.estimate_off
    with pytest.raises(ConfigError, match=r"performance\.estimate.enabled"):
        Monitor({**stream.config(), "performance": {"estimate": {"enabled": True}}})
    bad = {**stream.config(), "performance": {"estimate": {"min_accuracy_drop": 2}}}
    with pytest.raises(ConfigError, match=r"performance\.estimate.min_accuracy_drop"):
        parse_config(bad)
    regression = {
        **RegressionStream().config(),
        "performance": {"estimate": {"calibration": "identity"}},
    }
    with pytest.raises(ConfigError, match=r"performance\.estimate.calibration"):
        parse_config(regression)
    confidence = {**stream.config(), "prediction": {**stream.config()["prediction"]}}
    confidence["prediction"]["confidence"] = "prediction.p"
    with pytest.raises(ConfigError, match=r"prediction\.confidence"):
        parse_config(confidence)


def _exact_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney: the share of (positive, negative) pairs ranked right, ties half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    above = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(above / (len(pos) * len(neg)))


def test_realised_and_estimated_roc_auc_sit_side_by_side(baseline: Baseline) -> None:
    """With labels, each window's realised ROC AUC is the exact one within 1/200 (the binned
    ties), and the estimate's is within the sampling noise of a 1,000-event AUC of it."""
    stream = JointStream(seed=6)
    monitor = Monitor(stream.config(), baseline)
    monitor.process(stream.events(20_000), labels=stream.labels(20_000))
    performance = monitor.engine.performance
    assert performance is not None
    cols = stream.columns(20_000)
    realised = [m["roc_auc"] for _, m in performance.series[(None, None)].history]
    exact = [
        _exact_auc(cols["score"][i : i + WINDOW], cols["label"][i : i + WINDOW])
        for i in range(0, 20_000, WINDOW)
    ]
    assert len(realised) == len(exact) == 20
    assert max(abs(r - e) for r, e in zip(realised, exact, strict=True)) < 1 / 200
    estimated = [m["roc_auc"] for _, m in performance.estimates[(None, None)].history]
    gaps = np.abs(np.array(estimated) - np.array(realised))
    assert gaps.mean() < 0.02 and gaps.max() < 0.06, gaps
