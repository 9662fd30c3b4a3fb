"""Estimated performance before labels arrive: one series' windows of expected correctness.

Every prediction (labelled or not) has an *expected correctness* (classification: the calibrated
probability that its predicted class is right) or an *expected absolute error* (regression),
from the calibration (:mod:`detector.labels.calibration`). A series (all traffic, or one
segment value) sums them over tumbling windows of ``performance.window`` predictions (or
``window_seconds``) and, at each close, reports the window's estimated metrics and tests it:

- **the test**: one-sided, is the window's mean expected correctness below the reference mean
  (expected loss above it) by more than ``z(alpha) * sqrt(var / n + var / n_ref)``, the
  standard error of a difference of two means of i.i.d. events (``alpha``: the budgeted
  per-window level of :mod:`detector.false_alarms`; ``n_ref``, ``var``: the reference's count
  and variance), *and* by more than the materiality floor (``min_accuracy_drop`` points of
  accuracy, or ``min_mae_increase`` of the reference MAE)?
- **the reference**: the baseline's training rows for this series when it has them, else the
  series' first ``warmup_windows`` windows;
- **the lifecycle**: as other performance alerts; it resolves after ``detection.resolve_windows``
  windows that pass the test at 0.001.

Binary windows also estimate CBPE's expected confusion matrix (``TP = sum p`` over predicted
positives, ``FP = sum (1 - p)`` there, ``FN = sum p`` over predicted negatives), hence
precision, recall and F1, and ROC AUC from the calibrated probabilities, binned as the realised
one (:func:`detector.labels.metrics.binned_auc`; positive weight ``p``, negative ``1 - p``).
Multi-class windows with every class's calibrated probability ``p_c`` do the same per class,
one versus the rest (``TP_c = sum p_c`` over events predicted ``c``, ``FP_c = sum (1 - p_c)``
there, ``FN_c = sum p_c`` over the other events; ROC AUC binned on ``p_c``), and report the
macro means: precision, recall, F1 and ROC AUC.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from detector.alerts import Lifecycle, Severity, Signal, Summary, Window, rfc3339
from detector.config import Config
from detector.errors import ConfigError
from detector.labels.calibration import Calibration, EstimateContext, Reference
from detector.labels.metrics import AUC_BINS, binned_auc, score_bins
from detector.labels.series import HISTORY_WINDOWS, RESOLVE_ALPHA, PerformanceContext
from detector.windows import WindowClock

FEATURE = "estimated_performance"  # the alerts' feature (their dedup key's)


def estimate_context(
    config: Config, alpha: float, labels: Mapping[str, Any] | None
) -> tuple[EstimateContext | None, str]:
    """The estimate's context from the config and the baseline's ``labels`` entry, or None and
    why it is off. A ConfigError when ``enabled: true`` cannot be met, or the calibration is
    unreadable."""
    spec, label = config.performance.estimate, config.label
    assert label is not None and config.prediction is not None
    if spec.enabled is False:
        return None, "performance.estimate.enabled is false"
    calibration: Calibration | None = None
    if spec.calibration == "identity":
        calibration = Calibration.identity(label.type)
    elif labels is not None and "calibration" in labels:
        try:
            calibration = Calibration.from_json(label.type, labels["calibration"])
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"baseline: labels.calibration: {exc}") from exc
    if calibration is None:
        why = "the baseline has no labels.calibration (build it with labelled training rows)"
        if spec.enabled:
            raise ConfigError(f"performance.estimate.enabled: {why}")
        return None, why
    if config.prediction.type == "categorical" and label.type == "binary":
        return None, "a binary class prediction has no score to calibrate"
    prediction = config.prediction
    unscored = prediction.confidence is None and prediction.probabilities is None
    if label.type == "categorical" and unscored:
        return None, (
            "categorical labels need prediction.confidence or prediction.probabilities to estimate"
        )
    if label.type == "categorical":
        try:
            calibration = calibration.with_classes(config.prediction.classes())
        except ValueError as exc:
            raise ConfigError(f"baseline: labels.calibration: {exc}") from exc
    context = EstimateContext(
        calibration=calibration,
        window=config.performance.window,
        window_seconds=config.performance.window_seconds,
        alpha=alpha,
        resolve_windows=config.detection.resolve_windows,
        critical_ratio=config.performance.critical_ratio,
        warmup_windows=spec.warmup_windows,
        min_accuracy_drop=spec.min_accuracy_drop,
        min_mae_increase=spec.min_mae_increase,
    )
    return context, ""


def _running(start: float, values: np.ndarray) -> float:
    """``start`` plus ``values`` added one after the other (``numpy.sum`` adds pairwise)."""
    if len(values) == 0:
        return start
    return float(np.cumsum(np.concatenate(([start], values)))[-1])


@dataclass
class EstimateSums:
    """A window's sums: mergeable, their size independent of the window's."""

    n: int = 0
    total: float = 0.0  # expected correctness (or loss) summed
    squares: float = 0.0
    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0
    # calibrated p summed by bin of p (binary: AUC_BINS; multi-class: classes x AUC_BINS, p_c)
    positive: np.ndarray | None = None
    negative: np.ndarray | None = None  # 1 - p summed alike
    confusion: np.ndarray | None = None  # multi-class: expected (TP, FP, FN) per class

    def add(self, expected: np.ndarray, probability: np.ndarray | None, ones: np.ndarray) -> None:
        """Add events: their expected correctness (or loss); binary: P(label 1) and whether
        the predicted class is 1; multi-class: every class's calibrated probability (rows x
        classes) and the predicted class's position. Sums run event after event (never
        pairwise), so a window's figures are the same bits however its events were cut into
        batches."""
        self.n += len(expected)
        self.total = _running(self.total, expected)
        self.squares = _running(self.squares, expected * expected)
        if probability is None:
            return
        if probability.ndim == 2:
            self._add_classes(probability, ones)
            return
        p = probability
        self.tp = _running(self.tp, p[ones])
        self.fp = _running(self.fp, 1.0 - p[ones])
        self.fn = _running(self.fn, p[~ones])
        bins = score_bins(p)
        if self.positive is None or self.negative is None:
            self.positive, self.negative = np.zeros(AUC_BINS), np.zeros(AUC_BINS)
        np.add.at(self.positive, bins, p)  # unbuffered: in event order, bin by bin
        np.add.at(self.negative, bins, 1.0 - p)

    def _add_classes(self, p: np.ndarray, predicted: np.ndarray) -> None:
        """Multi-class, one class versus the rest at a time, event after event."""
        k = p.shape[1]
        if self.confusion is None or self.positive is None or self.negative is None:
            self.confusion = np.zeros((k, 3))
            self.positive, self.negative = np.zeros((k, AUC_BINS)), np.zeros((k, AUC_BINS))
        for c in range(k):
            mine, pc = predicted == c, p[:, c]
            row = self.confusion[c]
            row[0] = _running(row[0], pc[mine])
            row[1] = _running(row[1], 1.0 - pc[mine])
            row[2] = _running(row[2], pc[~mine])
            bins = score_bins(pc)
            np.add.at(self.positive[c], bins, pc)
            np.add.at(self.negative[c], bins, 1.0 - pc)

    def merge(self, other: EstimateSums) -> None:
        """Pool a closed window into this one (warm-up: its count and sums only)."""
        self.n += other.n
        self.total += other.total
        self.squares += other.squares

    def reference(self) -> Reference:
        mean = self.total / self.n
        return Reference(self.n, mean, max(self.squares / self.n - mean * mean, 0.0))

    def metrics(self, regression: bool) -> dict[str, float]:
        """The window's estimated metrics, named as the realised ones."""
        out: dict[str, float] = {"count": self.n}
        if regression:
            out["mae"] = self.total / self.n
            return out
        out["accuracy"] = self.total / self.n
        if self.confusion is not None and self.positive is not None and self.negative is not None:
            out.update(_macro(self.confusion, self.positive, self.negative))
        elif self.positive is not None and self.negative is not None:
            tp, fp, fn = self.tp, self.fp, self.fn
            out["precision"] = tp / (tp + fp) if tp + fp else 0.0
            out["recall"] = tp / (tp + fn) if tp + fn else 0.0
            out["f1"] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
            auc = binned_auc(self.positive, self.negative)
            if auc is not None:
                out["roc_auc"] = auc
        return out


def _macro(confusion: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> dict[str, float]:
    """Macro precision, recall, F1 (zero for an empty denominator, as the realised ones) and
    one-vs-rest ROC AUC (over the classes that have both weights) of per-class sums."""
    precision, recall, f1, aucs = [], [], [], []
    for (tp, fp, fn), pos, neg in zip(confusion.tolist(), positive, negative, strict=True):
        precision.append(tp / (tp + fp) if tp + fp else 0.0)
        recall.append(tp / (tp + fn) if tp + fn else 0.0)
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
        auc = binned_auc(pos, neg)
        if auc is not None:
            aucs.append(auc)
    out = {
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
        "f1": float(np.mean(f1)),
    }
    if aucs:
        out["roc_auc"] = float(np.mean(aucs))
    return out


class EstimateSeries:
    """Estimated metrics, their test and lifecycle, for one (segment dimension, value)."""

    def __init__(self, context: PerformanceContext, key: tuple[str | None, str | None]) -> None:
        self.context = context  # shared: its estimate holds the calibration and settings
        self.key = key
        self.predictions = 0
        self.last_metrics: dict[str, float] = {}
        self.history: deque[tuple[float, dict[str, float]]] = deque(maxlen=HISTORY_WINDOWS)
        self.lifecycle = Lifecycle()
        estimate = context.estimate
        assert estimate is not None
        self._clock = WindowClock(estimate.window, estimate.window_seconds)
        self._open = EstimateSums()
        self._first = math.nan  # event time of the open window's first prediction
        self._last = math.nan
        self._warm = EstimateSums()  # warm-up windows pooled, without a baseline reference
        self._warm_windows = 0
        self._learned: tuple[int, float, float] | None = None  # a Reference, as saved state

    def reference(self) -> Reference | None:
        """The baseline's reference for this series, else the warm-up's once it is done."""
        estimate = self.context.estimate
        assert estimate is not None
        found = estimate.calibration.references.get(self.key)
        if found is None and self._learned is not None:
            return Reference(*self._learned)
        return found

    def update(
        self,
        times: np.ndarray,
        expected: np.ndarray,
        probability: np.ndarray | None,
        ones: np.ndarray,
    ) -> list[Signal]:
        """Feed one batch of the series' predictions; return signals in prediction order."""
        signals: list[Signal] = []
        start = 0
        n = len(times)
        for end in self._clock.closes(times):
            stop = end + 1
            self._add(times, expected, probability, ones, slice(start, stop))
            start = stop
            # dated by the window's last prediction (end -1: the previous batch's last), the
            # same whether a time window closed inside this batch or with the next one
            signal = self._close(max(end, 0), self.predictions + end + 1)
            if signal is not None:
                signals.append(signal)
        self._add(times, expected, probability, ones, slice(start, n))
        self.predictions += n
        return signals

    def _add(
        self,
        times: np.ndarray,
        expected: np.ndarray,
        probability: np.ndarray | None,
        ones: np.ndarray,
        part: slice,
    ) -> None:
        if part.stop <= part.start:
            return
        if self._open.n == 0:
            self._first = float(times[part.start])
        self._last = float(times[part.stop - 1])
        p = None if probability is None else probability[part]
        self._open.add(expected[part], p, ones[part])

    def _close(self, position: int, events: int) -> Signal | None:
        sums, self._open, when = self._open, EstimateSums(), self._last
        if sums.n == 0:
            return None
        estimate = self.context.estimate
        assert estimate is not None
        regression = estimate.calibration.label_type == "numeric"
        self.last_metrics = sums.metrics(regression)
        self.history.append((self._last, self.last_metrics))
        reference = self.reference()
        if reference is None:
            self._warm.merge(sums)
            self._warm_windows += 1
            if self._warm_windows >= estimate.warmup_windows:
                learned = self._warm.reference()
                self._learned = (learned.rows, learned.mean, learned.var)
            return None
        mean = sums.total / sums.n
        change = mean - reference.mean if regression else reference.mean - mean
        error = math.sqrt(reference.var / sums.n + reference.var / reference.rows)
        floor = (
            estimate.min_mae_increase * reference.mean if regression else estimate.min_accuracy_drop
        )
        limit = max(float(norm.isf(estimate.alpha)) * error, floor)
        life = self.lifecycle
        if change > limit:
            severity: Severity = (
                "critical"
                if (
                    mean >= estimate.critical_ratio * reference.mean
                    if regression
                    else 1 - mean >= estimate.critical_ratio * (1 - reference.mean)
                )
                else "warning"
            )
            if not life.detect(when, severity):
                return None
            firing = True
        else:
            loose = max(float(norm.isf(RESOLVE_ALPHA)) * error, floor)
            if not life.window_checked(change <= loose, estimate.resolve_windows):
                return None
            firing = False
        threshold = reference.mean + limit if regression else reference.mean - limit
        return self._signal(firing, (position, when, events), sums.n, (reference, mean, threshold))

    def _signal(
        self,
        firing: bool,
        at: tuple[int, float, int],
        n: int,
        values: tuple[Reference, float, float],
    ) -> Signal:
        estimate = self.context.estimate
        assert estimate is not None
        reference, mean, threshold = values
        regression = estimate.calibration.label_type == "numeric"
        name = "MAE" if regression else "accuracy"

        def show(x: float) -> str:
            return f"{x:.4g}" if regression else f"{x:.1%}"

        if firing:
            headline = (
                f"estimated {name} {show(reference.mean)} -> {show(mean)} over the last "
                f"{n:,} predictions (estimated from "
                f"{'predictions' if regression else 'calibrated scores'}, no labels needed)"
            )
        else:
            headline = (
                f"estimated {name} {show(mean)} over {n:,} predictions, "
                f"{show(reference.mean)} expected"
            )
        return Signal(
            position=at[0],
            status="firing" if firing else "resolved",
            kind="performance",
            detector=estimate.calibration.method,
            statistic="estimated_mae" if regression else "estimated_accuracy",
            value=mean,
            threshold=threshold,
            severity=self.lifecycle.severity,
            observed_at=at[1],
            started_at=self.lifecycle.started_at,
            window=Window(
                count=n, first_event_time=rfc3339(self._first), last_event_time=rfc3339(self._last)
            ),
            reference=Summary(count=reference.rows, mean=reference.mean),
            current=Summary(count=n, mean=mean),
            series_events=at[2],
            detections=self.lifecycle.detections,
            headline=headline,
            estimated=True,
        )
