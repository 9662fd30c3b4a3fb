"""Performance metrics of joined (prediction, label) pairs, from sufficient statistics.

Classification (``label.type`` binary or categorical): ``accuracy``, ``precision``, ``recall``,
``f1`` (binary: of class ``"1"``; multi-class: macro averages over the classes seen), and, where
the prediction is a score (binary labels with a numeric prediction), ``log_loss`` (scores
clipped to [1e-15, 1 - 1e-15]) and ``ece``, the expected calibration error over 10 equal-width
score bins: ``sum_b n_b / n * |mean label_b - mean score_b|``, and ``roc_auc`` over
``AUC_BINS`` equal-width score bins (:func:`binned_auc`: pairs within a bin count as ties, so it
is within about 1 / AUC_BINS of the exact value). Multi-class with every class's probability
(``prediction.probabilities``): ``roc_auc`` is the macro one-vs-rest mean, class ``c``'s
binned on ``p_c`` with the label ``c`` as positive (over the classes with both). A ratio with an
empty denominator is 0, as scikit-learn's ``zero_division=0``.

Regression (``label.type`` numeric): ``mae`` and ``rmse``.

Both report ``error_rate``: the share of the pairs that count as errors (a wrong class, or an
absolute error above ``label.tolerance``), the quantity the detectors watch, and ``count``.

>>> acc = MetricAccumulator("binary")
>>> acc.add(["1", "1", "0", "0"], ["1", "0", "0", "0"], np.array([0.9, 0.6, 0.2, 0.4]))
>>> {k: round(v, 3) for k, v in acc.metrics().items()}  # doctest: +NORMALIZE_WHITESPACE
{'count': 4, 'error_rate': 0.25, 'accuracy': 0.75, 'precision': 0.5, 'recall': 1.0,
 'f1': 0.667, 'log_loss': 0.439, 'ece': 0.325, 'roc_auc': 1.0}
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from detector.config import LabelType
from detector.predictions import Value

ECE_BINS = 10
AUC_BINS = 200
_EPS = 1e-15


def score_bins(scores: np.ndarray) -> np.ndarray:
    """The ROC AUC bin of each score in [0, 1]."""
    bins: np.ndarray = np.minimum(
        (np.clip(scores, 0.0, 1.0) * AUC_BINS).astype(np.int64), AUC_BINS - 1
    )
    return bins


def binned_auc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """ROC AUC from the (possibly fractional) positive and negative weight in each score bin,
    pairs in the same bin counting half: ``sum_b neg_b (pos above b + pos_b / 2) / (P N)``.
    None without both classes.

    >>> binned_auc(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    1.0
    """
    above = np.cumsum(positive[::-1])[::-1] - positive  # positive weight in higher bins
    total = float(positive.sum() * negative.sum())
    if total <= 0:
        return None
    return float((negative * (above + 0.5 * positive)).sum() / total)


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def errors_of(
    label_type: LabelType,
    predicted: Sequence[Value] | np.ndarray,
    actual: Sequence[Value] | np.ndarray,
    tolerance: float,
) -> np.ndarray:
    """The per-pair error indicator: a wrong class, or an absolute error above ``tolerance``."""
    if label_type == "numeric":
        diff = np.abs(np.asarray(predicted, dtype=np.float64) - np.asarray(actual, np.float64))
        return np.asarray(diff > tolerance)
    return np.fromiter((p != a for p, a in zip(predicted, actual, strict=True)), bool)


class MetricAccumulator:
    """Adds pairs in batches; :meth:`metrics` reads the metrics of everything added."""

    def __init__(
        self, label_type: LabelType, tolerance: float = 0.0, classes: Sequence[str] = ()
    ) -> None:
        """``classes``: multi-class, the classes of the probabilities :meth:`add` receives."""
        self.label_type = label_type
        self.tolerance = tolerance
        self.count = 0
        self.errors = 0
        self.confusion: Counter[tuple[Value, Value]] = Counter()  # (actual, predicted)
        self.scored = 0
        self.log_loss_sum = 0.0
        self.bin_count = np.zeros(ECE_BINS, dtype=np.int64)
        self.bin_score = np.zeros(ECE_BINS)
        self.bin_label = np.zeros(ECE_BINS)
        self.auc_positive = np.zeros(AUC_BINS)  # labels 1 per score bin
        self.auc_negative = np.zeros(AUC_BINS)  # labels 0 per score bin
        self.abs_sum = 0.0
        self.sq_sum = 0.0
        self.classes = list(classes)
        # one-vs-rest, per class and bin of p_c: labels c, and labels of another class
        self.ovr_positive = np.zeros((len(self.classes), AUC_BINS))
        self.ovr_negative = np.zeros((len(self.classes), AUC_BINS))

    def add(
        self,
        predicted: Sequence[Value],
        actual: Sequence[Value],
        scores: np.ndarray,
        probabilities: np.ndarray | None = None,
    ) -> None:
        """Add pairs; ``scores`` holds the positive class's probability, NaN where absent;
        ``probabilities`` (multi-class) every class's, rows x classes, NaN where absent."""
        n = len(predicted)
        if n == 0:
            return
        self.count += n
        self.errors += int(errors_of(self.label_type, predicted, actual, self.tolerance).sum())
        if self.label_type == "numeric":
            diff = np.asarray(predicted, dtype=np.float64) - np.asarray(actual, np.float64)
            self.abs_sum += float(np.abs(diff).sum())
            self.sq_sum += float((diff * diff).sum())
            return
        self.confusion.update(zip(actual, predicted, strict=True))
        if self.classes and probabilities is not None and probabilities.shape[1]:
            self._add_classes(actual, probabilities)
        scored = ~np.isnan(scores)
        if self.label_type == "binary" and scored.any():
            p = np.clip(scores[scored], _EPS, 1.0 - _EPS)
            y = np.asarray([a == "1" for a, s in zip(actual, scored, strict=True) if s], float)
            self.scored += len(p)
            self.log_loss_sum += float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).sum())
            bins = np.minimum((np.clip(scores[scored], 0.0, 1.0) * ECE_BINS).astype(int), 9)
            self.bin_count += np.bincount(bins, minlength=ECE_BINS)
            self.bin_score += np.bincount(bins, weights=scores[scored], minlength=ECE_BINS)
            self.bin_label += np.bincount(bins, weights=y, minlength=ECE_BINS)
            fine = score_bins(scores[scored])
            self.auc_positive += np.bincount(fine, weights=y, minlength=AUC_BINS)
            self.auc_negative += np.bincount(fine, weights=1.0 - y, minlength=AUC_BINS)

    def _add_classes(self, actual: Sequence[Value], probabilities: np.ndarray) -> None:
        complete = np.isfinite(probabilities).all(axis=1)
        if not complete.any():
            return
        p = probabilities[complete]
        truth = np.asarray(actual, dtype=object)[complete]
        for c, name in enumerate(self.classes):
            y = (truth == name).astype(np.float64)
            bins = score_bins(p[:, c])
            self.ovr_positive[c] += np.bincount(bins, weights=y, minlength=AUC_BINS)
            self.ovr_negative[c] += np.bincount(bins, weights=1.0 - y, minlength=AUC_BINS)

    def merge(self, other: MetricAccumulator) -> None:
        """Add everything ``other`` has seen."""
        self.count += other.count
        self.errors += other.errors
        self.confusion.update(other.confusion)
        self.scored += other.scored
        self.log_loss_sum += other.log_loss_sum
        self.bin_count += other.bin_count
        self.bin_score += other.bin_score
        self.bin_label += other.bin_label
        self.auc_positive += other.auc_positive
        self.auc_negative += other.auc_negative
        self.abs_sum += other.abs_sum
        self.sq_sum += other.sq_sum
        if other.ovr_positive.shape == self.ovr_positive.shape:
            self.ovr_positive += other.ovr_positive
            self.ovr_negative += other.ovr_negative

    def metrics(self) -> dict[str, float]:
        """Metrics of everything added so far (empty before any pair)."""
        if self.count == 0:
            return {}
        out: dict[str, float] = {"count": self.count, "error_rate": self.errors / self.count}
        if self.label_type == "numeric":
            out["mae"] = self.abs_sum / self.count
            out["rmse"] = math.sqrt(self.sq_sum / self.count)
            return out
        correct = sum(n for (a, p), n in self.confusion.items() if a == p)
        out["accuracy"] = correct / self.count
        classes = (
            ["1"]
            if self.label_type == "binary"
            else sorted({str(c) for k in self.confusion for c in k})
        )
        precision, recall, f1 = [], [], []
        for c in classes:
            tp = self.confusion[(c, c)]
            predicted = sum(n for (_, p), n in self.confusion.items() if p == c)
            actual = sum(n for (a, _), n in self.confusion.items() if a == c)
            prec, rec = _ratio(tp, predicted), _ratio(tp, actual)
            precision.append(prec)
            recall.append(rec)
            f1.append(_ratio(2 * prec * rec, prec + rec))
        out["precision"] = float(np.mean(precision))
        out["recall"] = float(np.mean(recall))
        out["f1"] = float(np.mean(f1))
        aucs = [binned_auc(p, n) for p, n in zip(self.ovr_positive, self.ovr_negative, strict=True)]
        known = [a for a in aucs if a is not None]
        if known:
            out["roc_auc"] = float(np.mean(known))
        if self.scored:
            out["log_loss"] = self.log_loss_sum / self.scored
            gaps = np.abs(self.bin_label - self.bin_score)  # |sum y - sum p| per bin
            out["ece"] = float(gaps.sum() / self.scored)
            auc = binned_auc(self.auc_positive, self.auc_negative)
            if auc is not None:
                out["roc_auc"] = auc
        return out
