"""A numeric series: normal scores into ADWIN and Page-Hinkley, binned window tests, checks."""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import numpy as np

from detector.alerts import Signal, Summary
from detector.detectors.adwin import Adwin
from detector.detectors.distribution import TestResult, binned_tests
from detector.detectors.page_hinkley import PageHinkley
from detector.quality import beyond_range_check, constant_check, rate_check
from detector.reference import (
    NumericReference,
    describe,
    lag1_autocorrelation,
    variance_inflation,
)
from detector.series.base import (
    RESOLVE_ALPHA,
    Evidence,
    SeriesBase,
    SeriesContext,
    WindowVerdict,
    window_of,
)
from detector.sketches import Histogram, NumericSketch

# The extremes of a small reference (a 1,000-value warm-up) say little about the range of
# heavy-tailed data, so without configured bounds only a large (training) reference is used.
RANGE_FROM_REFERENCE = 10_000


def values_since_change(scores: np.ndarray, least: int = 10) -> int:
    """How many of the newest ``scores`` follow the most likely single change in mean.

    The classic CUSUM estimator: the split maximising ``|S_k - k/n * S_n|``.

    >>> values_since_change(np.array([0.0] * 80 + [2.0] * 20))
    20
    """
    n = len(scores)
    if n <= least:
        return n
    sums = np.cumsum(scores)
    k = np.arange(1, n)
    split = int(np.argmax(np.abs(sums[:-1] - k / n * sums[-1]))) + 1
    return max(n - split, least)


def _prefix(flags: np.ndarray) -> np.ndarray:
    """``out[i]`` = how many of ``flags[:i]`` are set (so a slice's count is a difference)."""
    out = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(flags, out=out[1:])
    return out


class _Batch(NamedTuple):
    """One micro-batch as the open window takes it: values, scores, each value's bin, and
    running counts (``before``, ``errors``, ``missing`` by event, ``above``, ``below`` by value),
    computed once per batch; windows and change points then cut it into slices. Integer counts:
    the same whatever the cut, so batching still cannot change a window."""

    x: np.ndarray
    z: np.ndarray
    times: np.ndarray
    before: np.ndarray  # values before each event
    errors: np.ndarray
    missing: np.ndarray  # missing and not a type error
    bins: np.ndarray
    above: np.ndarray
    below: np.ndarray


class _Window:
    """Accumulators of the open window.

    Values and scores are kept (at most one window's worth) rather than summed as they come:
    float sums depend on how the stream was cut into batches, and alerts must not.
    """

    def __init__(self, edges: np.ndarray) -> None:
        self.histogram = Histogram(edges)
        self.reset()

    def reset(self) -> None:
        self.histogram.reset()
        self.values: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.events = self.missing = self.type_errors = self.above = self.below = 0
        self.first_time = self.last_time = math.nan


class NumericSeries(SeriesBase):
    """Reference, detectors, window tests and checks of one numeric series."""

    def __init__(self, context: SeriesContext, reference: NumericReference | None = None) -> None:
        super().__init__(context)
        self.reference: NumericReference | None = None
        self._warm: list[np.ndarray] = []
        self._warm_n = self._warm_missing = self._warm_errors = 0
        self._adwin = Adwin(delta=self.config.adwin_delta)
        self._ph = PageHinkley(delta=self.config.ph_delta, threshold=self.config.ph_threshold)
        self._recent = self._recent_z = self._recent_t = np.empty(0)  # last `window` values
        self._window = _Window(np.empty(0))
        self.totals = NumericSketch(np.empty(0))
        self.dependence = 0.0
        self._inflation = 1.0
        # A baseline's order may not be the stream's (training data is often shuffled), so its
        # series also measure the dependence of their first `warmup` live scores.
        self._live_lag: list[np.ndarray] | None = [] if reference is not None else None
        if reference is not None:
            self._start(reference)

    def _start(self, reference: NumericReference) -> None:
        self.reference = reference
        self._window = _Window(reference.bin_edges)
        self.totals = NumericSketch(reference.bin_edges)  # all values since the reference
        self._low, self._high = self.context.bounds or (reference.min, reference.max)
        self._set_dependence(reference.dependence)

    def _set_dependence(self, phi: float) -> None:
        """Calibrate for AR(1)-like dependence: sums vary ``(1 + phi) / (1 - phi)`` times more.

        Window-test thresholds and Page-Hinkley's level scale by that factor; ADWIN's bound
        grows with ``sqrt(ln(1 / delta))``, so its delta becomes ``delta ** factor``.
        """
        self.dependence = phi
        self._inflation = variance_inflation(phi)
        self._ph.threshold = self.config.ph_threshold * self._inflation
        delta = self.config.adwin_delta**self._inflation
        self._adwin = Adwin(delta=delta)

    def _learn_dependence(self, scores: np.ndarray) -> None:
        assert self._live_lag is not None
        self._live_lag.append(scores)
        seen = np.concatenate(self._live_lag)
        if len(seen) >= self.config.warmup:
            phi = lag1_autocorrelation(seen[: self.config.warmup])
            self._live_lag = None
            if phi > self.dependence:
                self._set_dependence(phi)

    @property
    def reference_summary(self) -> Summary:
        return self.reference.summary if self.reference else Summary(count=0)

    def drift_statistics(self) -> dict[str, TestResult]:
        """The window tests, plus Page-Hinkley's running value and the recent mean score."""
        stats = super().drift_statistics()
        cusum = self._ph.statistic
        if cusum is not None:
            stats["cusum_sd"] = TestResult("cusum_sd", cusum, self._ph.threshold)
        if len(self._recent_z):
            # Mean of N(0,1) scores: 4 standard errors is a clear shift.
            noise = 4.0 / math.sqrt(len(self._recent_z))
            stats["mean_score_sd"] = TestResult(
                "mean_score_sd", float(self._recent_z.mean()), noise
            )
        return stats

    def update(
        self, values: np.ndarray, type_errors: np.ndarray, times: np.ndarray
    ) -> list[Signal]:
        """Feed one micro-batch of this series (NaN = missing); return alert status changes."""
        missing = np.isnan(values)
        self._count(missing, type_errors)
        start = 0 if self.reference is not None else self._warm_up(values, missing, type_errors)
        if self.reference is None or start == len(values):
            return []
        return self._monitor(
            start, values[start:], missing[start:], type_errors[start:], times[start:]
        )

    def _warm_up(self, values: np.ndarray, missing: np.ndarray, errors: np.ndarray) -> int:
        need = self.config.warmup - self._warm_n
        filled = np.cumsum(~missing)
        used = int(np.searchsorted(filled, need)) + 1 if filled[-1] >= need else len(values)
        taken = values[:used][~missing[:used]]
        self._warm.append(taken)
        self._warm_n += len(taken)
        self._warm_errors += int(errors[:used].sum())
        self._warm_missing += int((missing[:used] & ~errors[:used]).sum())
        if self._warm_n == self.config.warmup:
            sample = np.concatenate(self._warm)
            self._start(NumericReference.from_sample(sample, self._warm_missing, self._warm_errors))
            self._warm = []
        return used

    def _monitor(
        self,
        offset: int,
        values: np.ndarray,
        missing: np.ndarray,
        errors: np.ndarray,
        times: np.ndarray,
    ) -> list[Signal]:
        assert self.reference is not None
        at = np.flatnonzero(~missing)  # event position of each value
        x, x_times = values[at], times[at]
        z = self.reference.normal_scores(x)
        if self._live_lag is not None:
            self._learn_dependence(z)
        batch = _Batch(
            x=x,
            z=z,
            times=times,
            before=_prefix(~missing),
            errors=_prefix(errors),
            missing=_prefix(missing & ~errors),
            bins=self._window.histogram.bins(x),
            above=_prefix(x > self._high),
            below=_prefix(x < self._low),
        )
        self._history = (
            np.concatenate([self._recent, x]),
            np.concatenate([self._recent_z, z]),
            np.concatenate([self._recent_t, x_times]),
            len(self._recent),
        )

        Found = tuple[str, int, float, float, int] | None  # detector, index, value, level, since
        steps: list[tuple[int, int, Found]] = [(end, 1, None) for end in self.clock.closes(times)]
        for i in self._adwin.update_many(z):
            steps.append((int(at[i]), 0, ("adwin", i, math.nan, self._adwin.delta, -1)))
        for d in self._ph.update_many(z):
            ph = ("page_hinkley", d.index, d.statistic, self._ph.threshold, d.index - d.onset)
            steps.append((int(at[d.index]), 0, ph))
        steps.sort(key=lambda s: (s[0], s[1], str(s[2])))

        signals: list[Signal] = []
        cursor = 0
        for position, is_close, found in steps:
            self._accumulate(batch, cursor, position + 1)
            cursor = max(cursor, position + 1)
            if is_close:
                signals += self._close(offset + position)
            elif found is not None:
                signals += self._change_point(offset + position, *found)
        self._accumulate(batch, cursor, len(values))

        keep = self.config.window
        raw, scores, stamps, _ = self._history
        # Copies, not slices: a slice would keep the whole batch alive (state per series).
        self._recent, self._recent_z, self._recent_t = (
            a[-keep:].copy() for a in (raw, scores, stamps)
        )
        del self._history  # only needed while this batch's change points are described
        return signals

    def _accumulate(self, batch: _Batch, start: int, stop: int) -> None:
        """Add the batch's events ``start:stop`` to the open window (O(1) but for the copies)."""
        if stop <= start:
            return
        w = self._window
        first, last = int(batch.before[start]), int(batch.before[stop])  # their values
        w.events += stop - start
        w.type_errors += int(batch.errors[stop] - batch.errors[start])
        w.missing += int(batch.missing[stop] - batch.missing[start])
        w.histogram.add_bins(batch.bins[first:last])
        w.values.append(batch.x[first:last].copy())  # copies: views would pin the whole batch
        w.scores.append(batch.z[first:last].copy())
        w.above += int(batch.above[last] - batch.above[first])
        w.below += int(batch.below[last] - batch.below[first])
        if math.isnan(w.first_time):
            w.first_time = float(batch.times[start])
        w.last_time = float(batch.times[stop - 1])

    def _change_point(
        self, position: int, detector: str, index: int, value: float, threshold: float, since: int
    ) -> list[Signal]:
        assert self.reference is not None
        raw, scores, stamps, offset = self._history
        end = offset + index + 1
        if since < 0:
            since = values_since_change(scores[max(0, end - self.config.window) : end])
        count = max(1, min(since, self.config.window, end))
        current = describe(raw[end - count : end])
        shift = self._shift(current)
        if not self.lifecycle("drift").detect(float(stamps[end - 1]), self.severity(shift)):
            return []
        statistic = "cusum_sd" if detector == "page_hinkley" else "mean_shift_sd"
        result = TestResult(detector, abs(shift) if math.isnan(value) else value, threshold)
        evidence = Evidence(
            position,
            float(stamps[end - 1]),
            window_of(count, float(stamps[end - count]), float(stamps[end - 1])),
            current,
            self._headline(current, shift),
        )
        signal = self.signal("drift", "firing", result, evidence)
        signal.statistic = statistic
        return [signal]

    def _shift(self, current: Summary) -> float:
        assert self.reference is not None
        scale = self.reference.std if self.reference.std > 0 else 1.0
        return ((current.mean or 0.0) - self.reference.mean) / scale

    def _headline(self, current: Summary, shift: float) -> str:
        assert self.reference is not None
        return (
            f"mean {self.reference.mean:.4g} -> {current.mean:.4g} ({shift:+.2f} sd), "
            f"std {self.reference.std:.4g} -> {current.std:.4g} over {current.count} values"
        )

    def _close(self, position: int) -> list[Signal]:
        assert self.reference is not None
        w, ref, alpha = self._window, self.reference, self.context.alpha
        if w.events == 0:
            return []
        values = np.concatenate(w.values) if w.values else np.empty(0)
        self.totals.add_window(values, w.histogram)
        n = len(values)
        scale = ref.std if ref.std > 0 else 1.0
        verdict = WindowVerdict(shift=(float(values.mean()) - ref.mean) / scale if n else 0.0)
        if n >= self.config.min_window_values:
            counts = w.histogram.counts.copy()  # the window resets before a lazy resolve check
            self.last_counts = counts
            args = (counts, ref.bin_probs, ref.bin_edges, ref.std)
            verdict.drift = binned_tests(*args, alpha, ref.count, self._inflation)
            scores = np.concatenate(w.scores)

            def drift_clean() -> bool:
                loose = binned_tests(*args, RESOLVE_ALPHA, ref.count, self._inflation)
                noise = 3.0 * math.sqrt((1.0 / n + 1.0 / ref.count) * self._inflation)
                return not any(r.fired for r in loose) and abs(float(scores.mean())) < noise

            verdict.drift_clean = drift_clean
            spread = float(values.max() - values.min())
            constant = constant_check(n, spread, ref.mode_share, alpha)
            verdict.quality.append((constant, lambda: spread > 0))
        for name, count, rate in (
            ("missing_rate", w.missing, ref.missing_rate),
            ("type_errors", w.type_errors, ref.type_error_rate),
        ):
            check = partial(rate_check, name, count, w.events, rate * ref.events, ref.events)
            verdict.add_check(check, alpha)
        if n and self.context.bounds:  # configured bounds: the reference is taken as all inside
            check = partial(rate_check, "out_of_range", w.above + w.below, n, 0, ref.count)
            verdict.add_check(check, alpha)
        elif n and ref.count >= RANGE_FROM_REFERENCE:
            beyond = partial(beyond_range_check, w.above, w.below, n, ref.count)
            verdict.add_check(beyond, alpha)
        events, first, last = w.events, w.first_time, w.last_time

        def evidence() -> Evidence:
            current = describe(values)
            headline = self._headline(current, verdict.shift) if n else "no values in the window"
            return Evidence(position, last, window_of(events, first, last), current, headline)

        w.reset()
        return self.judge(verdict, last, evidence)
