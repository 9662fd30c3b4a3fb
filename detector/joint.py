"""The joint unit: multivariate drift of one model's numeric fields, for all traffic or one
segment value.

With ``detection.joint.enabled``, every event updates a *joint unit* for all traffic and one per
segment dimension, next to its per-field series. The unit sees the event's numeric fields as one
row (NaN where missing) and tests, at each window's close, whether the correlations of the
fields' normal scores moved from the reference's (:mod:`detector.multivariate`): the drift a
broken join, a decoupled sensor or a new fraud pattern leaves when every marginal stays put.

- **Reference.** From the training baseline (the rows of the unit's segment, sampled) when it
  has one for the unit, else from the unit's first ``detection.warmup`` rows, in order.
- **Windows.** Tumbling, by count (``detection.window``) or event time, like the series'.
  A window with fewer than ``detection.min_window_values`` rows is not tested.
- **Level.** The window's largest pair ``|z|`` against the budgeted level split over the pairs
  (:func:`~detector.multivariate.pair_level`); the unit counts as one test per window in the
  budget (:mod:`detector.false_alarms`). Resolved after ``detection.resolve_windows`` windows
  that pass at 0.001.
- **Alerts.** ``kind: drift``, ``detector: correlation``, ``feature: joint``, statistic
  ``max_pair_z``; the summaries' ``correlations`` give the moved pairs' reference and window
  correlations, largest change first. A change of ``CRITICAL_CHANGE`` or more in a pair's
  correlation is critical.

Everything depends only on the unit's rows in order, never on how they were cut into batches.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from detector.alerts import Lifecycle, Severity, Signal, Status, Summary, Window, rfc3339
from detector.multivariate import (
    CorrelationResult,
    CorrelationWindow,
    JointReference,
    correlation_test,
    pair_level,
)
from detector.windows import WindowClock

FEATURE = "joint"  # the alerts' feature and the report's series name
DETECTOR = "correlation"
STATISTIC = "max_pair_z"
RESOLVE_ALPHA = 1e-3
CRITICAL_CHANGE = 0.4  # a pair's correlation moving this much is critical
HISTORY_WINDOWS = 240  # closed windows' statistics kept for the report
_OPEN_PARTS = 16  # batch parts of the open window kept before they are joined into one


@dataclass(frozen=True)
class JointContext:
    """What every joint unit of a model shares (from the config)."""

    names: tuple[str, ...]
    alpha: float
    window: int
    window_seconds: float | None
    warmup: int
    min_rows: int
    resolve_windows: int
    top: int
    threshold: float = 0.0  # the pair level at ``alpha`` (computed once, below)
    resolve_threshold: float = 0.0  # and at RESOLVE_ALPHA

    def __post_init__(self) -> None:
        k = len(self.names)
        object.__setattr__(self, "threshold", pair_level(self.alpha, k))
        object.__setattr__(self, "resolve_threshold", pair_level(RESOLVE_ALPHA, k))


class JointUnit:
    """The correlation test of one (model, segment) over its windows, and its alert."""

    def __init__(self, context: JointContext, reference: JointReference | None = None) -> None:
        self.context = context
        self.reference = reference
        self.events = 0
        self.lifecycle = Lifecycle()
        self.last_statistic = 0.0  # of the latest tested window (metrics, report)
        self.last_pairs: list[tuple[str, str, float, float, float]] = []
        self.history: deque[tuple[float, float]] = deque(maxlen=HISTORY_WINDOWS)
        self._warm: list[np.ndarray] = []  # warm-up rows, until the reference is built
        self._warm_rows = 0
        self._clock = WindowClock(context.window, context.window_seconds)
        # The open window's scores, summed only at its close: sums carried across batches
        # would round differently however the stream was cut.
        self._open: list[np.ndarray] = []
        self._rows = 0  # rows in the open window
        self._first = 0.0  # event time of its first row
        self._last = 0.0  # and of its last

    def drift_statistics(self) -> dict[str, tuple[float, float]]:
        """The latest tested window's statistic and level (metrics and report); empty before
        the first."""
        if not self.history:
            return {}
        return {STATISTIC: (self.last_statistic, self.context.threshold)}

    def update(self, rows: np.ndarray, times: np.ndarray) -> list[Signal]:
        """Feed the unit's rows (rows x fields, in order) and their event times; the signals,
        each at the row position that closed its window."""
        start = self._warm_up(rows) if self.reference is None else 0
        reference = self.reference
        if reference is None or start == len(rows):
            self.events += len(rows)
            return []
        scores = reference.scores(rows[start:])
        ends = self._clock.closes(times[start:])
        signals: list[Signal] = []
        begin = 0
        for end in ends:
            self._add(scores[begin : end + 1], times[start + begin : start + end + 1])
            begin = end + 1
            last = start + end  # the window's last row; -1: the previous batch's last
            signal = self._close(reference, max(last, 0), self.events + last + 1)
            if signal is not None:
                signals.append(signal)
        self._add(scores[begin:], times[start + begin :])
        self.events += len(rows)
        return signals

    def _warm_up(self, rows: np.ndarray) -> int:
        """Take warm-up rows; build the reference once there are enough. How many rows the
        warm-up took."""
        take = min(len(rows), self.context.warmup - self._warm_rows)
        self._warm.append(rows[:take].copy())
        self._warm_rows += take
        if self._warm_rows >= self.context.warmup:
            warm = np.concatenate(self._warm)
            self.reference = JointReference.from_rows(self.context.names, warm)
            self._warm = []
        return take

    def _add(self, scores: np.ndarray, times: np.ndarray) -> None:
        if not len(scores):
            return
        if self._rows == 0:
            self._first = float(times[0])
        self._last = float(times[-1])
        self._open.append(scores)
        if len(self._open) > _OPEN_PARTS:
            self._open = [np.concatenate(self._open)]
        self._rows += len(scores)

    def _close(self, reference: JointReference, position: int, events: int) -> Signal | None:
        """Test the open window and start the next; a signal when the alert's status changes,
        at batch row ``position``, dated by the window's last row, the unit's ``events``-th
        (the same whether a time window closed inside a batch or with the next one)."""
        rows, first, when, parts = self._rows, self._first, self._last, self._open
        self._rows, self._open = 0, []
        if rows < self.context.min_rows:
            return None
        ctx = self.context
        window = CorrelationWindow(len(ctx.names))
        window.add(np.concatenate(parts))
        result = correlation_test(
            window, reference.correlation, ctx.threshold, reference.inflation, ctx.top
        )
        self.last_statistic, self.last_pairs = result.statistic, result.pairs
        self.history.append((when, result.statistic))
        life = self.lifecycle
        span = Window(count=rows, first_event_time=rfc3339(first), last_event_time=rfc3339(when))
        at = (position, when, events)
        if result.statistic > result.threshold:
            if life.detect(when, _severity(result)):
                return self._signal("firing", result, at, span)
            return None
        clean = result.statistic <= ctx.resolve_threshold
        if life.window_checked(clean, ctx.resolve_windows):
            return self._signal("resolved", result, at, span)
        return None

    def _signal(
        self, status: Status, result: CorrelationResult, at: tuple[int, float, int], span: Window
    ) -> Signal:
        position, when, events = at
        pairs = result.pairs
        before = {f"{a}~{b}": round(ref, 4) for a, b, ref, _, _ in pairs}
        after = {f"{a}~{b}": round(now, 4) for a, b, _, now, _ in pairs}
        moved = ", ".join(f"{a}~{b} {ref:.2f} -> {now:.2f}" for a, b, ref, now, _ in pairs[:3])
        reference = self.reference
        assert reference is not None
        life = self.lifecycle
        return Signal(
            position=position,
            status=status,
            kind="drift",
            detector=DETECTOR,
            statistic=STATISTIC,
            value=result.statistic,
            threshold=result.threshold,
            severity=life.severity,
            observed_at=when,
            started_at=life.started_at,
            window=span,
            reference=Summary(
                count=int(reference.correlation.count.max(initial=0)), correlations=before
            ),
            current=Summary(count=span.count, correlations=after),
            series_events=events,
            detections=life.detections,
            headline=f"correlation of normal scores {moved}" if moved else "correlations",
        )


def _severity(result: CorrelationResult) -> Severity:
    change = max((abs(now - ref) for _, _, ref, now, _ in result.pairs), default=0.0)
    return "critical" if change >= CRITICAL_CHANGE else "warning"
