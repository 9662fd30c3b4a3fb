"""One segment's model performance: tumbling metric windows, ADWIN on its error stream, and (for
a segment value) the test against the rest of the traffic.

Each joined pair is one event of the *error stream*: 1 when the prediction counts as wrong, else
0. Everything here depends only on the order of the series' pairs, never on how they were cut
into batches: ADWIN sees pair after pair, windows close by count (or event time), window
metrics are computed from the window's pairs at its close, and lifecycle steps are applied in
pair order.

- ``error`` (concept drift): ADWIN on the error stream (:mod:`detector.detectors.adwin`); the
  change is described from its last ``_RING`` pairs at most. A detection whose recent part
  has a *higher* error rate than the part it dropped fires (improvements never page). It
  resolves after ``detection.resolve_windows`` windows whose error count is plausible under the
  error rate from before the change (beta-binomial at 0.001, as the quality checks).
- ``error_vs_rest`` (underperforming segment): at each window close of a segment value, the
  segment's errors against the rest of the traffic over the same span (Fisher's exact test at
  the budgeted level, see :mod:`detector.labels.versus_rest`). It resolves after
  ``resolve_windows`` windows that pass at 0.001.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from detector.alerts import Lifecycle, Severity, Signal, Summary, Window, rfc3339
from detector.config import LabelType
from detector.detectors.adwin import Adwin
from detector.detectors.distribution import TestResult
from detector.detectors.plugins import Plugin, PluginSet
from detector.labels.calibration import EstimateContext
from detector.labels.metrics import MetricAccumulator
from detector.labels.ring import PairRing
from detector.labels.versus_rest import segment_worse
from detector.quality import rate_check
from detector.windows import WindowClock

RESOLVE_ALPHA = 1e-3
HISTORY_WINDOWS = 240  # closed windows' metrics kept per series
_RING = 16_384  # latest pairs kept (event times, error flags) to describe an ADWIN cut
_OPEN_PARTS = 16  # batch parts of the open window kept before they are joined into one
ERROR, VS_REST = "error", "error_vs_rest"


@dataclass(frozen=True)
class PerformanceContext:
    """What every performance series of a model shares."""

    label_type: LabelType
    tolerance: float
    window: int
    window_seconds: float | None
    min_labels: int
    critical_ratio: float
    adwin_delta: float
    resolve_windows: int
    alpha: float
    plugins: tuple[Plugin, ...] = ()  # configured detectors of the error stream
    estimate: EstimateContext | None = None  # estimated performance, None when it is off
    estimate_off: str = ""  # why it is off
    classes: tuple[str, ...] = ()  # multi-class: the classes of prediction.probabilities


class Detection(NamedTuple):
    """A detection (ADWIN's cut or a configured detector's) where the error rate went up: the
    rates before and after, and counts."""

    before: float
    n_before: int
    after: float
    n_after: int
    detector: str = "adwin"


@dataclass
class Columns:
    """Pairs of one batch for one series, in pair order."""

    predicted: np.ndarray
    actual: np.ndarray
    scores: np.ndarray
    errors: np.ndarray  # bool
    times: np.ndarray  # completion event times
    global_pairs: np.ndarray  # all traffic's pair count after each pair
    global_errors: np.ndarray  # all traffic's error count after each pair
    probabilities: np.ndarray  # class probabilities, pairs x classes (x 0 without them)

    def part(self, start: int, stop: int) -> Columns:
        """Pairs ``start:stop`` for the open window. The all-traffic counts are read from the
        current batch only, so a part leaves them empty (16 bytes a pair less to save)."""
        s = slice(start, stop)
        empty = np.zeros(0, dtype=np.int64)
        pairs = (self.predicted[s], self.actual[s], self.scores[s], self.errors[s], self.times[s])
        return Columns(
            *pairs, global_pairs=empty, global_errors=empty, probabilities=self.probabilities[s]
        )

    @staticmethod
    def join(parts: list[Columns]) -> Columns:
        return Columns(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Columns))
        )

    def to_state(self) -> dict[str, Any]:
        """Arrays by field, class labels (object arrays) as lists: saved state holds no objects."""
        return {
            f.name: value.tolist() if value.dtype == object else value
            for f in fields(self)
            for value in [getattr(self, f.name)]
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Columns:
        """Columns from :meth:`to_state`'s output (lists become object arrays again)."""
        arrays = []
        if "probabilities" not in state:  # saved before class probabilities: none
            state = {**state, "probabilities": np.zeros((len(state["errors"]), 0))}
        for f in fields(cls):
            value = state[f.name]
            if isinstance(value, list):  # class labels: keep them an object array
                labels = np.empty(len(value), dtype=object)
                labels[:] = value
                value = labels
            elif not isinstance(value, np.ndarray):
                raise ValueError(f"column {f.name} is not an array")
            arrays.append(value)
        return cls(*arrays)


def _rate(errors: float, n: float) -> float:
    return errors / n if n else 0.0


def since_change(values: np.ndarray, least: int = 30) -> int:
    """How many of the newest ``values`` follow the most likely single change in mean: the
    split maximising the standardised CUSUM ``|S_k - k/n S_n| / sqrt(k (n - k) / n)``, at least
    ``least`` values from either end. The plain CUSUM drifts towards the middle on small shifts
    of a 0/1 stream; standardised, it is about unbiased.

    >>> since_change(np.array([0.0] * 80 + [1.0] * 40))
    40
    """
    n = len(values)
    if n <= 2 * least:
        return n
    sums = np.cumsum(values)
    k = np.arange(1, n)
    score = np.abs(sums[:-1] - k / n * sums[-1]) / np.sqrt(k * (n - k) / n)
    score[: least - 1] = score[n - least :] = 0.0
    return n - (int(np.argmax(score)) + 1)


class PerformanceSeries:
    """Metrics, detectors and lifecycles of one (segment dimension, value), or all traffic."""

    def __init__(self, context: PerformanceContext, segment: bool) -> None:
        self.context = context
        self.segment = segment  # a segment value (tested against the rest), not all traffic
        self.pairs = 0
        self.errors = 0
        self._closed = self._accumulator()  # past windows
        self.last_metrics: dict[str, float] = {}
        self.history: deque[tuple[float, dict[str, float]]] = deque(maxlen=HISTORY_WINDOWS)
        self.lifecycles = {ERROR: Lifecycle(), VS_REST: Lifecycle()}
        self._adwin = Adwin(delta=context.adwin_delta)
        self._plugins = PluginSet(context.plugins) if context.plugins else None
        self._clock = WindowClock(context.window, context.window_seconds)
        self._open: list[Columns] = []
        self._opened_at = (0, 0)  # all traffic's (pairs, errors) when the window opened
        self._last_global = (0, 0)
        self._before = (0, 0)  # (pairs, errors) before the change of a firing error alert
        self._ring = PairRing(_RING)  # event times and error flags of the latest pairs
        self._batch_start = 0

    def update(self, cols: Columns) -> list[tuple[str, Signal]]:
        """Feed one batch of the series' pairs; return (alert feature, signal) in pair order."""
        n = len(cols.errors)
        self._batch_start = self.pairs
        steps: list[tuple[int, int, Detection | None]] = self._adwin_steps(cols)
        steps += [(end, 1, None) for end in self._clock.closes(cols.times)]
        steps.sort(key=lambda s: (s[0], s[1]))
        signals: list[tuple[str, Signal]] = []
        start = 0
        for position, _, found in steps:
            if found is not None:
                signal = self._detected(position, found, cols)
                if signal is not None:
                    signals.append((ERROR, signal))
                continue
            self._open.append(cols.part(start, position + 1))
            start = position + 1
            signals += self._close(position, cols)
        self._open.append(cols.part(start, n))
        if len(self._open) > _OPEN_PARTS:  # one part, not one per batch: smaller saved state
            self._open = [Columns.join(self._open)]
        self.pairs += n
        self.errors += int(cols.errors.sum())
        if n:
            self._last_global = (int(cols.global_pairs[-1]), int(cols.global_errors[-1]))
        self._ring.push(cols.times, cols.errors)
        return signals

    def total_metrics(self) -> dict[str, float]:
        """Metrics over every pair of the series so far (closed windows and the open one)."""
        acc = self._accumulator()
        acc.merge(self._closed)
        if self._open:
            window = Columns.join(self._open)
            acc.add(
                list(window.predicted), list(window.actual), window.scores, window.probabilities
            )
        return acc.metrics()

    def _accumulator(self) -> MetricAccumulator:
        context = self.context
        return MetricAccumulator(context.label_type, context.tolerance, context.classes)

    def _adwin_steps(self, cols: Columns) -> list[tuple[int, int, Detection | None]]:
        """ADWIN detections where the error rate went up, as (position, 0, detection)."""
        found: list[tuple[int, int, Detection | None]] = []
        for i, width in self._adwin.changes(cols.errors.astype(np.float32)):
            detection = self._describe(i, width, cols)
            if detection.after > detection.before:
                found.append((i, 0, detection))
        if self.context.plugins:
            found += self._plugin_steps(cols)
        elif self._plugins is not None:
            self._plugins = None  # (a restored series whose config dropped them)
        return found

    def _plugin_steps(self, cols: Columns) -> list[tuple[int, int, Detection | None]]:
        """The configured detectors' detections on the error stream, described from the last
        ``_RING`` pairs at most (they report no window), where the error rate went up; after
        ADWIN's at the same position (steps sort stably)."""
        if self._plugins is None:
            self._plugins = PluginSet(self.context.plugins)
        self._plugins.bind(self.context.plugins)
        n = len(cols.errors)
        flags = cols.errors.astype(float).tolist()  # the input whatever `input` says
        hits = self._plugins.detect({"value": flags, "score": flags}, range(n))
        found: list[tuple[int, int, Detection | None]] = []
        for i, name in sorted(hits.items()):
            detection = self._describe(i, min(self.pairs + i + 1, _RING), cols)
            if detection.after > detection.before:
                found.append((i, 0, detection._replace(detector=name)))
        return found

    def _describe(self, position: int, width: int, cols: Columns) -> Detection:
        """Rates before and after the most likely change point within ADWIN's window (the
        ``width`` pairs up to ``position``, at most the last ``_RING``: the same whatever the
        batching)."""
        mine = cols.errors[max(0, position + 1 - width) : position + 1].astype(np.int8)
        older = self._ring.latest_errors(width - len(mine))
        values = np.concatenate([older, mine])[-_RING:].astype(np.float64)
        after = since_change(values)
        n_before = len(values) - after
        before = float(values[:n_before].mean()) if n_before else 0.0
        return Detection(before, n_before, float(values[n_before:].mean()), after)

    def _time_of(self, index: int, cols: Columns) -> float:
        """Event time of the series' pair number ``index`` (0-based), as far as it is kept."""
        if index >= self._batch_start:
            return float(cols.times[index - self._batch_start])
        return self._ring.time_of(index)

    def _severity(self, rate: float, compared: float) -> Severity:
        return "critical" if rate >= self.context.critical_ratio * compared else "warning"

    def _signal(
        self,
        key: str,
        firing: bool,
        result: TestResult,
        at: tuple[int, float],
        evidence: tuple[Window, Summary, Summary, str],
    ) -> Signal:
        position, when = at
        window, reference, current, headline = evidence
        life = self.lifecycles[key]
        return Signal(
            position=max(position, 0),
            status="firing" if firing else "resolved",
            kind="performance",
            detector=result.name,
            statistic="error_rate",
            value=result.value,
            threshold=result.threshold,
            severity=life.severity,
            observed_at=when,
            started_at=life.started_at,
            window=window,
            reference=reference,
            current=current,
            series_events=self._batch_start + position + 1,
            detections=life.detections,
            headline=headline,
        )

    def _detected(self, position: int, found: Detection, cols: Columns) -> Signal | None:
        life = self.lifecycles[ERROR]
        when = float(cols.times[position])
        if not life.detect(when, self._severity(found.after, found.before)):
            return None
        self._before = (found.n_before, round(found.before * found.n_before))
        first = self._time_of(self._batch_start + position - found.n_after + 1, cols)
        window = Window(
            count=found.n_after, first_event_time=rfc3339(first), last_event_time=rfc3339(when)
        )
        headline = (
            f"error rate {found.before:.1%} -> {found.after:.1%} over the last "
            f"{found.n_after:,} labelled events"
        )
        adwin = found.detector == "adwin"  # else a configured detector: it says only "drift"
        shift = (
            TestResult("adwin", found.after - found.before, self.context.adwin_delta)
            if adwin
            else TestResult(found.detector, 1.0, 1.0)
        )
        evidence = (
            window,
            Summary(count=found.n_before, mean=found.before),
            Summary(count=found.n_after, mean=found.after),
            headline,
        )
        signal = self._signal(ERROR, True, shift, (position, when), evidence)
        signal.statistic = "error_rate_shift" if adwin else "drift_detected"
        return signal

    def _close(self, position: int, cols: Columns) -> list[tuple[str, Signal]]:
        """Close the open window (ending at batch ``position``, -1: before this batch)."""
        parts, self._open = self._open, []
        window = Columns.join(parts)
        n = len(window.errors)
        if position >= 0:
            now = (int(cols.global_pairs[position]), int(cols.global_errors[position]))
        else:
            now = self._last_global
        opened, self._opened_at = self._opened_at, now
        if n == 0:
            return []
        acc = self._accumulator()
        acc.add(list(window.predicted), list(window.actual), window.scores, window.probabilities)
        self.last_metrics = acc.metrics()
        self._closed.merge(acc)
        last_time = float(window.times[-1])
        when = last_time  # also when the window ended with the previous batch (position -1)
        self.history.append((last_time, self.last_metrics))
        errors = int(window.errors.sum())
        span = Window(
            count=n,
            first_event_time=rfc3339(float(window.times[0])),
            last_event_time=rfc3339(last_time),
        )
        current = Summary(count=n, mean=_rate(errors, n))
        signals: list[tuple[str, Signal]] = []
        life = self.lifecycles[ERROR]
        if life.firing:
            n_before, e_before = self._before
            check = rate_check("adwin", errors, n, e_before, n_before, RESOLVE_ALPHA)
            if life.window_checked(not check.fired, self.context.resolve_windows):
                reference = Summary(count=n_before, mean=_rate(e_before, n_before))
                headline = f"error rate {_rate(errors, n):.1%} over {n:,} labelled events"
                evidence = (span, reference, current, headline)
                signal = self._signal(ERROR, False, check, (position, when), evidence)
                signals.append((ERROR, signal))
        if self.segment:
            rest_n = now[0] - opened[0] - n
            rest_e = now[1] - opened[1] - errors
            counts = (n, errors, rest_n, rest_e)
            signals += self._versus_rest((position, when), counts, span)
        return signals

    def _versus_rest(
        self, at: tuple[int, float], counts: tuple[int, int, int, int], span: Window
    ) -> list[tuple[str, Signal]]:
        ctx = self.context
        n, errors, rest_n, rest_e = counts
        result = segment_worse(n, errors, rest_n, rest_e, ctx.alpha, ctx.min_labels)
        if result is None:
            return []
        life = self.lifecycles[VS_REST]
        rest_rate = _rate(rest_e, rest_n)
        if result.fired:
            if not life.detect(at[1], self._severity(result.value, rest_rate)):
                return []
        else:
            loose = segment_worse(n, errors, rest_n, rest_e, RESOLVE_ALPHA, ctx.min_labels)
            if not life.window_checked(loose is None or not loose.fired, ctx.resolve_windows):
                return []
        headline = (
            f"error rate {result.value:.1%} of {n:,} labelled events vs {rest_rate:.1%} in "
            f"the rest of the traffic ({rest_n:,})"
        )
        reference = Summary(count=rest_n, mean=rest_rate)
        evidence = (span, reference, Summary(count=n, mean=result.value), headline)
        return [(VS_REST, self._signal(VS_REST, result.fired, result, at, evidence))]
