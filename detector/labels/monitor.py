"""The engine's performance hook: predictions and labels in, performance signals out.

The engine hands over tapes of predictions and labels in the one order both reach it (key
order, see :mod:`detector.order`). Each record goes through the join in that order; pairs come
out when their second half arrives. Each pair updates the all-traffic performance series and one
series per segment dimension, keyed like the data series (segment values come from the
prediction's event, capped by the engine's router, so they name the same segments).

With a calibration (:mod:`detector.labels.estimate`), every prediction also feeds the estimate
series of the same keys as it arrives, labelled or not: estimated performance before labels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from detector.alerts import Signal
from detector.config import Config
from detector.detectors.plugins import Plugin
from detector.labels.estimate import FEATURE, EstimateSeries, estimate_context
from detector.labels.join import JoinStats, JoinStore, Pair
from detector.labels.metrics import errors_of
from detector.labels.series import Columns, PerformanceContext, PerformanceSeries
from detector.predictions import class_index
from detector.slices import PerformanceTape

PerformanceKey = tuple[str | None, str | None]  # segment dimension, value; (None, None): all
ESTIMATE_ORDER = 1_000_000  # estimate signals of a row rank after its realised ones
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """A performance signal, placed in the input batch and attached to its series."""

    row: int  # the input row (event or label) whose arrival completed the deciding pair
    order: int  # among signals of the same row: all traffic first, then dimensions in order
    feature: str  # error, error_vs_rest or estimated_performance
    segment: dict[str, str]
    signal: Signal


class PerformanceMonitor:
    """The join, the per-segment performance series and the global error counts."""

    def __init__(
        self,
        config: Config,
        alpha: float,
        plugins: Sequence[Plugin] = (),
        baseline_labels: Mapping[str, Any] | None = None,
    ) -> None:
        """``baseline_labels``: the baseline's ``labels`` entry, whose calibration the
        estimated performance uses."""
        label = config.label
        if label is None:
            raise ValueError("the config has no label section")
        estimate, off = estimate_context(config, alpha, baseline_labels)
        if estimate is None and config.performance.estimate.enabled is None:
            log.info("estimated performance is off: %s", off)
        self.config = config
        self.dimensions = [s.name for s in config.segments]
        self.join = JoinStore(label.max_pending, label.ttl_seconds)
        self.context = PerformanceContext(
            label_type=label.type,
            tolerance=label.tolerance or 0.0,
            window=config.performance.window,
            window_seconds=config.performance.window_seconds,
            min_labels=config.performance.min_labels,
            critical_ratio=config.performance.critical_ratio,
            adwin_delta=config.detection.adwin_delta,
            resolve_windows=config.detection.resolve_windows,
            alpha=alpha,
            plugins=tuple(p for p in plugins if p.stream == "errors"),
            estimate=estimate,
            estimate_off=off,
            classes=config.prediction.classes() if config.prediction is not None else (),
        )
        self.series: dict[PerformanceKey, PerformanceSeries] = {}
        self.estimates: dict[PerformanceKey, EstimateSeries] = {}
        self.pairs = 0
        self.errors = 0

    @property
    def stats(self) -> JoinStats:
        return self.join.stats

    def tape(self, tape: PerformanceTape) -> list[Outcome]:
        """Offer the tape's predictions (with their capped segment values) and labels to the
        join, row by row in tape order; the pairs they complete update the series at once."""
        pairs: list[Pair] = []
        rows: list[int] = []
        add_prediction, add_label = self.join.add_prediction, self.join.add_label
        numbers, times, scores = tape.rows.tolist(), tape.times.tolist(), tape.scores.tolist()
        probabilities = None if tape.probabilities is None else tape.probabilities.tolist()
        segments = list(zip(*tape.segments, strict=True)) if tape.segments else None
        estimated: list[int] = []  # tape rows of predictions, for the estimate
        unusable = 0
        for row, (is_label, ident, value) in enumerate(
            zip(tape.is_label.tolist(), tape.ids, tape.values, strict=True)
        ):
            if is_label:
                pair = add_label(ident, times[row], value)  # type: ignore[arg-type]
            elif ident is None or value is None:
                unusable += 1
                continue
            else:
                groups = segments[row] if segments is not None else ()
                probs = None if probabilities is None else probabilities[row]
                pair = add_prediction(ident, times[row], groups, value, scores[row], probs)
                estimated.append(row)
            if pair is not None:
                pairs.append(pair)
                rows.append(numbers[row])
        self.join.stats.unusable_predictions += unusable
        outcomes = self._feed(pairs, rows)
        if self.context.estimate is not None and estimated:
            outcomes += self._estimate(tape, np.asarray(estimated, np.int64))
        return outcomes

    def _estimate(self, tape: PerformanceTape, index: np.ndarray) -> list[Outcome]:
        """Feed the predictions at tape rows ``index`` to the estimate series of all traffic
        and of their segment values."""
        estimate = self.context.estimate
        assert estimate is not None
        calibration = estimate.calibration
        values = [tape.values[i] for i in index.tolist()]
        if calibration.label_type == "numeric":
            x = np.asarray(values, np.float64)
        else:
            x = tape.scores[index]
        usable = ~np.isnan(x)
        if not usable.all():  # no score (or confidence) to estimate from
            index, x = index[usable], x[usable]
            values = [v for v, u in zip(values, usable.tolist(), strict=True) if u]
        if len(index) == 0:
            return []
        probability: np.ndarray | None = None
        if calibration.class_maps and tape.probabilities is not None:
            # multi-class: every class's calibrated probability, the predicted class's place
            probability = calibration.calibrated(tape.probabilities[index])
            ones = class_index(calibration.classes, values)
            expected = calibration.expected(values, x, probability, ones)
        else:
            expected = calibration.expected(values, x)
            if calibration.label_type == "binary":
                probability = calibration.mapped(x)
            ones = np.fromiter((v == "1" for v in values), bool, len(values))
        times = tape.times[index]
        groups: list[tuple[PerformanceKey, np.ndarray]] = [((None, None), np.arange(len(index)))]
        for d, dimension in enumerate(self.dimensions):
            column = np.asarray(tape.segments[d], dtype=object)[index]
            for value in dict.fromkeys(column.tolist()):
                groups.append(((dimension, value), np.flatnonzero(column == value)))
        outcomes: list[Outcome] = []
        for order, (key, members) in enumerate(groups):
            series = self.estimates.get(key)
            if series is None:
                series = self.estimates[key] = EstimateSeries(self.context, key)
            p = None if probability is None else probability[members]
            signals = series.update(times[members], expected[members], p, ones[members])
            segment = {} if key[0] is None or key[1] is None else {key[0]: key[1]}
            for signal in signals:
                row = int(tape.rows[index[members[signal.position]]])
                outcomes.append(Outcome(row, ESTIMATE_ORDER + order, FEATURE, segment, signal))
        return outcomes

    def _series(self, key: PerformanceKey) -> PerformanceSeries:
        series = self.series.get(key)
        if series is None:
            series = PerformanceSeries(self.context, segment=key[0] is not None)
            self.series[key] = series
        return series

    def _feed(self, pairs: list[Pair], rows: list[int]) -> list[Outcome]:
        if not pairs:
            return []
        n = len(pairs)
        times = np.fromiter((p[0] for p in pairs), np.float64, n)
        numeric = self.context.label_type == "numeric"
        kind = np.float64 if numeric else object
        predicted = np.asarray([p[3] for p in pairs], dtype=kind)
        actual = np.asarray([p[4] for p in pairs], dtype=kind)
        scores = np.fromiter((p[5] for p in pairs), np.float64, n)
        probabilities = _pair_probabilities(pairs, len(self.context.classes))
        errors = errors_of(self.context.label_type, predicted, actual, self.context.tolerance)
        global_pairs = self.pairs + np.arange(1, n + 1)
        global_errors = self.errors + np.cumsum(errors)
        cols = Columns(
            predicted, actual, scores, errors, times, global_pairs, global_errors, probabilities
        )
        groups: list[tuple[PerformanceKey, np.ndarray]] = [((None, None), np.arange(n))]
        for d, dimension in enumerate(self.dimensions):
            members: dict[str, list[int]] = {}
            for i, pair in enumerate(pairs):
                members.setdefault(pair[2][d], []).append(i)
            groups += [((dimension, v), np.asarray(m)) for v, m in members.items()]
        outcomes: list[Outcome] = []
        for order, (key, index) in enumerate(groups):
            part = cols if key[0] is None else _take(cols, index)
            dim, val = key
            segment = {} if dim is None or val is None else {dim: val}
            for feature, signal in self._series(key).update(part):
                row = rows[int(index[signal.position])]
                outcomes.append(Outcome(row, order, feature, segment, signal))
        self.pairs += n
        self.errors += int(errors.sum())
        return outcomes

    def metrics(self) -> dict[str, dict[str, float]]:
        """Each series' latest window metrics, by segment label (``all`` for all traffic)."""
        out: dict[str, dict[str, float]] = {}
        for (dimension, value), series in list(self.series.items()):  # a scrape may read it
            name = "all" if dimension is None else f"{dimension}={value}"
            out[name] = dict(series.last_metrics)
        return out

    def estimated_metrics(self) -> dict[str, dict[str, float]]:
        """Each estimate series' latest window metrics, by segment label (``all`` first)."""
        out: dict[str, dict[str, float]] = {}
        for (dimension, value), series in list(self.estimates.items()):
            name = "all" if dimension is None else f"{dimension}={value}"
            out[name] = dict(series.last_metrics)
        return out


def _take(cols: Columns, index: np.ndarray) -> Columns:
    return Columns(
        cols.predicted[index],
        cols.actual[index],
        cols.scores[index],
        cols.errors[index],
        cols.times[index],
        cols.global_pairs[index],
        cols.global_errors[index],
        cols.probabilities[index],
    )


def _pair_probabilities(pairs: list[Pair], k: int) -> np.ndarray:
    """The pairs' class probabilities, pairs x ``k`` (NaN rows where a pair has none)."""
    if k == 0:
        return np.zeros((len(pairs), 0))
    missing = [np.nan] * k
    return np.array([missing if p[6] is None else p[6] for p in pairs], np.float64).reshape(-1, k)
