"""What numeric and categorical series share: warm-up counters, the Rust core's views, signals.

A series collects its first ``detection.warmup`` values in Python (they become its reference,
unless a baseline gave one), then hands every later value to its core in ``detector._native``:
windows, tests, checks and alert lifecycles all run there, and only status changes come back as
:class:`~detector._native.SignalRecord`. :meth:`SeriesBase.signal_of` turns one into a
:class:`~detector.alerts.Signal`; the subclass says how to summarise its values.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector._native import (
    CategoricalCore,
    NumericCore,
    SignalRecord,
    WindowSettings,
    dependence,
)
from detector.alerts import Lifecycle, Signal, Summary, Window, rfc3339
from detector.config import DetectionConfig
from detector.detectors.distribution import TestResult, chi2_level
from detector.detectors.plugins import Plugin
from detector.quality import rate_prior
from detector.reference import CategoricalReference, NumericReference, inflation_of

RESOLVE_ALPHA = 1e-3  # looser than any firing level, so a borderline window does not flap


@dataclass(frozen=True)
class SeriesContext:
    """What every series of a model shares: settings, the per-test level, configured bounds."""

    config: DetectionConfig
    alpha: float
    bounds: tuple[float, float] | None = None
    plugins: tuple[Plugin, ...] = ()  # configured detectors of a numeric feature


def window_of(count: int, first: float, last: float) -> Window:
    return Window(count=count, first_event_time=rfc3339(first), last_event_time=rfc3339(last))


def quality_headline(result: TestResult) -> str:
    if result.name == "constant":
        return "every value in the window is the same"
    what = result.name.replace("_rate", "").replace("_", " ")
    return f"{what} at {result.value:.2%} of the window (plausible up to {result.threshold:.2%})"


def column(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as an aligned, contiguous array of ``dtype`` (what the core reads): arrays cut
    from a repartition record's bytes may be misaligned. Usually ``values`` itself."""
    flags = values.flags
    if values.dtype == dtype and flags.c_contiguous and flags.aligned:
        return values
    return np.require(values, dtype=dtype, requirements=("C", "A"))


def window_settings(
    context: SeriesContext, reference: NumericReference | CategoricalReference, cells: int
) -> WindowSettings:
    """The settings both cores take: windows, levels (the chi-square's for ``cells`` reference
    cells), resolve rule and the missing and type-error checks' priors from the reference's
    rates (the missing check's at the effective sample size its dependence leaves). Typed: a
    wrong or missing name is a TypeError here."""
    config, events = context.config, reference.events
    return WindowSettings(
        window=config.window,
        window_seconds=config.window_seconds,
        min_window_values=config.min_window_values,
        resolve_windows=config.resolve_windows,
        critical_shift=config.critical_shift,
        alpha=context.alpha,
        resolve_alpha=RESOLVE_ALPHA,
        chi2_level=chi2_level(context.alpha, cells),
        chi2_resolve_level=chi2_level(RESOLVE_ALPHA, cells),
        missing=rate_prior(reference.missing_rate * events, events),
        type_errors=rate_prior(reference.type_error_rate * events, events),
        missing_inflation=inflation_of(reference.missing_dependence),
    )


@dataclass
class CoreUpdate:
    """A batch's values past the warm-up, ready for the core: ``arrays`` are its ``update``
    arguments, ``offset`` where they start in the batch."""

    series: SeriesBase
    offset: int
    arrays: tuple[np.ndarray, ...]
    plugin_hits: dict[int, str] = field(default_factory=dict)  # position -> configured detector

    @property
    def job(self) -> tuple[NumericCore | CategoricalCore, tuple[np.ndarray, ...]]:
        """(core, arguments): one job of ``update_all`` (:mod:`detector.series.batch`)."""
        assert self.series._core is not None
        return self.series._core, self.arrays

    def run(self) -> list[Signal]:
        """Update the core now (the engine batches many through ``update_all`` instead)."""
        core, arrays = self.job
        return self.finish(core.update(*arrays))

    def finish(self, records: list[SignalRecord]) -> list[Signal]:
        """The core's status changes as signals (a configured detector's named after it)."""
        signals = [self.series.signal_of(r, self.offset) for r in records]
        for record, signal in zip(records, signals, strict=True):
            if record.detector == "plugin":
                signal.detector = self.plugin_hits.get(record.position, "plugin")
        return signals


class SeriesBase:
    """Warm-up counters and the read-only views of the core, for metrics and the report.

    ``update`` feeds one batch; the engine splits that into :meth:`begin` (warm-up, in
    Python), the core's update (many series at once) and :meth:`CoreUpdate.finish`.
    """

    reference: Any

    def __init__(self, context: SeriesContext) -> None:
        self.context = context
        self.config = context.config
        self._core: NumericCore | CategoricalCore | None = None
        self._warm_events = self._warm_missing = self._warm_errors = 0
        self._warm_absent: list[np.ndarray] = []
        self._batch_start = 0  # series events before the current micro-batch

    def begin(self, values: Any, type_errors: np.ndarray, times: np.ndarray) -> CoreUpdate | None:
        """Take a batch up to the core: None when the warm-up used all of it."""
        raise NotImplementedError

    def update(self, values: Any, type_errors: np.ndarray, times: np.ndarray) -> list[Signal]:
        """Feed one micro-batch of this series; return alert status changes."""
        task = self.begin(values, type_errors, times)
        return task.run() if task is not None else []

    def _view(self, method: str, empty: Any) -> Any:
        """One of the core's read-only views; ``empty`` before the core exists, or while the
        worker thread is inside an update (metrics and the report read from their own thread,
        and the core refuses a read during a write: "Already mutably borrowed")."""
        if self._core is None:
            return empty
        try:
            return getattr(self._core, method)()
        except RuntimeError as exc:
            if "borrowed" not in str(exc):
                raise
            return empty

    def _counters(self) -> tuple[int, int, int]:
        core = self._view("counters", (0, 0, 0))
        warm = (self._warm_events, self._warm_missing, self._warm_errors)
        return (warm[0] + core[0], warm[1] + core[1], warm[2] + core[2])

    @property
    def events(self) -> int:
        return self._counters()[0]

    @property
    def missing(self) -> int:
        return self._counters()[1]

    @property
    def type_errors(self) -> int:
        return self._counters()[2]

    @property
    def lifecycles(self) -> dict[str, Lifecycle]:
        """Alert key (``drift`` or a check) -> a copy of its lifecycle."""
        rows = self._view("lifecycles", [])
        return {key: Lifecycle(*life) for key, *life in rows}

    @property
    def history(self) -> deque[tuple[float, TestResult]]:
        """(event time, strongest drift test) of recent closed windows, oldest first."""
        rows = self._view("history", [])
        return deque((t, TestResult(name, v, th)) for t, name, v, th in rows)

    @property
    def last_window(self) -> list[TestResult]:
        """The latest closed window's tests and checks."""
        rows = self._view("last_window", [])
        return [TestResult(name, v, th) for name, v, th in rows]

    @property
    def last_counts(self) -> np.ndarray | None:
        """The latest tested window's counts per reference bin or category."""
        counts: np.ndarray | None = self._view("last_counts", None)
        return counts

    @property
    def reference_summary(self) -> Summary:
        raise NotImplementedError

    def drift_statistics(self) -> dict[str, TestResult]:
        """Current statistics by name with their thresholds (read by the metrics exporter)."""
        return {r.name: r for r in self.last_window}

    def _warm_counts(self, used: int, missing: np.ndarray, errors: np.ndarray) -> None:
        """Count the warm-up's events: the first ``used`` of the batch (and keep which were
        missing, in order, for the missing check's dependence)."""
        self._warm_events += used
        self._warm_errors += int(errors[:used].sum())
        absent = missing[:used] & ~errors[:used]
        self._warm_missing += int(absent.sum())
        self._warm_absent.append(absent)

    def _missing_dependence(self) -> float:
        """The warm-up's missing indicator's dependence at the window's scale (then dropped)."""
        absent = np.concatenate(self._warm_absent) if self._warm_absent else np.empty(0, bool)
        self._warm_absent = []
        return dependence(absent.astype(np.float64), self.config.window)

    def current(self, record: SignalRecord) -> Summary:
        """What the signal's values looked like (numeric moments or category shares)."""
        raise NotImplementedError

    def drift_headline(self, record: SignalRecord, current: Summary) -> str:
        raise NotImplementedError

    def statistic(self, record: SignalRecord) -> str:
        """The name of a drift signal's statistic (a change-point detector's own, as its
        registration in the core names it; else the deciding test's)."""
        return record.statistic

    def signal_of(self, record: SignalRecord, offset: int) -> Signal:
        """A core's status change as a Signal; ``offset`` places its batch in this update's."""
        result = TestResult(record.detector, record.value, record.threshold)
        current = self.current(record)
        if record.key == "drift":
            headline = self.drift_headline(record, current)
            statistic = self.statistic(record)
        else:
            headline = quality_headline(result)
            statistic = "rate" if record.key != "constant" else "constant"
        position = max(offset + record.position, 0)  # a time window may close before the batch
        return Signal(
            position=position,
            status="firing" if record.firing else "resolved",
            kind="drift" if record.key == "drift" else "quality",
            check=None if record.key == "drift" else record.key,
            detector=record.detector,
            statistic=statistic,
            value=record.value,
            threshold=record.threshold,
            severity=record.severity,  # type: ignore[arg-type]
            observed_at=record.observed_at,
            started_at=record.started_at,
            window=window_of(record.count, record.first, record.last),
            reference=self.reference_summary,
            current=current,
            series_events=self._batch_start + position + 1,
            detections=record.detections,
            headline=headline,
        )
