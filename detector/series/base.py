"""What numeric and categorical series share: counters, lifecycles, windows and signals."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from detector.alerts import Kind, Lifecycle, Severity, Signal, Summary, Window, rfc3339
from detector.config import DetectionConfig
from detector.detectors.distribution import TestResult
from detector.windows import WindowClock

HISTORY_WINDOWS = 240  # windows of statistics kept per series for the drift report
RESOLVE_ALPHA = 1e-3  # looser than any firing level, so a borderline window does not flap
_CRITICAL_CHECKS = {"type_errors", "constant"}  # a broken pipeline, not a statistical wobble


@dataclass(frozen=True)
class SeriesContext:
    """What every series of a model shares: settings, the per-test level, configured bounds."""

    config: DetectionConfig
    alpha: float
    bounds: tuple[float, float] | None = None


def _clean() -> bool:
    return True


@dataclass
class WindowVerdict:
    """A closed window's tests: drift tests and quality checks, each with its resolve verdict.

    Resolve verdicts (a second run of the tests at ``RESOLVE_ALPHA``) are callables: they only
    matter, and are only computed, while the alert they could resolve is firing.
    """

    drift: list[TestResult] = field(default_factory=list)
    drift_clean: Callable[[], bool] = _clean
    quality: list[tuple[TestResult, Callable[[], bool]]] = field(default_factory=list)
    shift: float = 0.0  # size of the change, for severity (reference sd or share change x5)

    def add_check(self, check: Callable[[float], TestResult], alpha: float) -> None:
        """Run a quality check at ``alpha`` now; at the resolve level only if ever needed."""
        self.quality.append((check(alpha), lambda: not check(RESOLVE_ALPHA).fired))


@dataclass
class Evidence:
    """Where and on what a signal was decided."""

    position: int  # index of the deciding event in the series' batch input
    observed_at: float
    window: Window
    current: Summary
    headline: str


def window_of(count: int, first: float, last: float) -> Window:
    return Window(count=count, first_event_time=rfc3339(first), last_event_time=rfc3339(last))


def quality_headline(result: TestResult) -> str:
    if result.name == "constant":
        return "every value in the window is the same"
    what = result.name.replace("_rate", "").replace("_", " ")
    return f"{what} at {result.value:.2%} of the window (plausible up to {result.threshold:.2%})"


class SeriesBase:
    """Counters, lifecycles and the signal plumbing shared by numeric and categorical series."""

    def __init__(self, context: SeriesContext) -> None:
        self.context = context
        self.config = context.config
        self.events = 0
        self.missing = 0
        self.type_errors = 0
        self.lifecycles: dict[str, Lifecycle] = {}
        self.clock = WindowClock(self.config.window, self.config.window_seconds)
        self.last_window: list[TestResult] = []  # the latest closed window's tests, for metrics
        # (event time, strongest drift test) per closed window, for the report's time series.
        self.history: deque[tuple[float, TestResult]] = deque(maxlen=HISTORY_WINDOWS)
        self.last_counts: np.ndarray | None = None  # the latest window's bin or category counts
        self._batch_start = 0  # series events before the current micro-batch

    def _count(self, missing: np.ndarray, type_errors: np.ndarray) -> None:
        self._batch_start = self.events
        self.events += len(missing)
        self.type_errors += int(type_errors.sum())
        self.missing += int((missing & ~type_errors).sum())

    def lifecycle(self, key: str) -> Lifecycle:
        return self.lifecycles.setdefault(key, Lifecycle())

    @property
    def reference_summary(self) -> Summary:
        raise NotImplementedError

    def severity(self, shift: float) -> Severity:
        return "critical" if abs(shift) >= self.config.critical_shift else "warning"

    def signal(self, key: str, status: str, result: TestResult, evidence: Evidence) -> Signal:
        kind: Kind = "drift" if key == "drift" else "quality"
        life = self.lifecycle(key)
        position = max(evidence.position, 0)  # a time window may close before the batch's first
        return Signal(
            position=position,
            status="firing" if status == "firing" else "resolved",
            kind=kind,
            check=None if kind == "drift" else key,
            detector=result.name,
            statistic="rate" if kind == "quality" and key != "constant" else result.name,
            value=result.value,
            threshold=result.threshold,
            severity=life.severity,
            observed_at=evidence.observed_at,
            started_at=life.started_at,
            window=evidence.window,
            reference=self.reference_summary,
            current=evidence.current,
            series_events=self._batch_start + position + 1,
            detections=life.detections,
            headline=evidence.headline,
        )

    def drift_statistics(self) -> dict[str, TestResult]:
        """Current statistics by name with their thresholds (read by the metrics exporter)."""
        return {r.name: r for r in self.last_window}

    def judge(
        self, verdict: WindowVerdict, observed_at: float, evidence: Callable[[], Evidence]
    ) -> list[Signal]:
        """Apply a closed window's verdict to the lifecycles; return the status changes.

        ``evidence`` builds the alert's window and summaries; it is only called for a signal.
        """
        self.last_window = verdict.drift + [result for result, _ in verdict.quality]
        if verdict.drift:
            strongest = max(verdict.drift, key=lambda r: r.value / r.threshold)
            self.history.append((observed_at, strongest))
        signals: list[Signal] = []
        fired = [r for r in verdict.drift if r.fired]
        drift = self.lifecycle("drift")
        if fired:
            if drift.detect(observed_at, self.severity(verdict.shift)):
                signals.append(self.signal("drift", "firing", fired[0], evidence()))
        elif (
            verdict.drift
            and drift.firing
            and drift.window_checked(verdict.drift_clean(), self.config.resolve_windows)
        ):
            signals.append(self.signal("drift", "resolved", verdict.drift[0], evidence()))
        for result, clean in verdict.quality:
            life = self.lifecycle(result.name)
            status = ""
            if result.fired:
                severity: Severity = "critical" if result.name in _CRITICAL_CHECKS else "warning"
                status = "firing" if life.detect(observed_at, severity) else ""
            elif life.firing and life.window_checked(clean(), self.config.resolve_windows):
                status = "resolved"
            if status:
                base = evidence()
                quality = Evidence(
                    base.position,
                    base.observed_at,
                    base.window,
                    base.current,
                    quality_headline(result),
                )
                signals.append(self.signal(result.name, status, result, quality))
        return signals
