"""Per-series state: one model feature in one segment (or in all traffic).

A series first collects ``detection.warmup`` values as its reference. After that:

- numeric: values become normal scores against the reference (:mod:`detector.reference`) and feed
  ADWIN and Page-Hinkley; the first detection fires the alert, later ones fold into it;
- categorical: tumbling windows of ``detection.window`` values are tested against the reference
  shares with a two-sample chi-square test at ``detection.categorical_alpha``.

A firing alert resolves after ``detection.resolve_windows`` consecutive tumbling windows that are
back in line with the reference. Numeric: the window's mean normal score is below half the shift
seen at firing, on windows large enough (at least ``36 / shift**2`` values, a standard error of a
sixth of the shift) that a persisting shift rarely passes that bar.
Categorical: chi-square p-value above ``RESOLVE_ALPHA``.
Missing values and type errors are counted and never fed to a detector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from detector.alerts import Lifecycle, Severity, Signal, Summary, Window, rfc3339
from detector.config import DetectionConfig
from detector.detectors.adwin import Adwin
from detector.detectors.categorical import chi_square_threshold, chi_square_two_sample
from detector.detectors.page_hinkley import PageHinkley
from detector.reference import CategoricalReference, NumericReference, describe

RESOLVE_ALPHA = 1e-3  # looser than the firing level, so a borderline window does not flap


class SeriesCounters:
    """Counts every series keeps, whatever its type."""

    def __init__(self) -> None:
        self.events = 0
        self.missing = 0
        self.type_errors = 0

    def count(self, missing: np.ndarray, type_errors: np.ndarray) -> None:
        self.events += len(missing)
        self.type_errors += int(type_errors.sum())
        self.missing += int((missing & ~type_errors).sum())


def _window(times: np.ndarray, count: int) -> Window:
    return Window(
        count=count,
        first_event_time=rfc3339(float(times[0])),
        last_event_time=rfc3339(float(times[-1])),
    )


def _values_since_change(scores: np.ndarray, least: int = 10) -> int:
    """How many of the newest ``scores`` follow the most likely single change in mean.

    The classic CUSUM estimator: the split maximising ``|S_k - k/n * S_n|``.

    >>> _values_since_change(np.array([0.0] * 80 + [2.0] * 20))
    20
    """
    n = len(scores)
    if n <= least:
        return n
    sums = np.cumsum(scores)
    k = np.arange(1, n)
    split = int(np.argmax(np.abs(sums[:-1] - k / n * sums[-1]))) + 1
    return max(n - split, least)


class NumericSeries(SeriesCounters):
    """Reference, normal-score transform, ADWIN, Page-Hinkley and the alert lifecycle."""

    def __init__(self, config: DetectionConfig) -> None:
        super().__init__()
        self.config = config
        self.reference: NumericReference | None = None
        self.lifecycle = Lifecycle()
        self._warm: list[np.ndarray] = []
        self._warm_n = 0
        self._adwin = Adwin(delta=config.adwin_delta)
        self._ph = PageHinkley(delta=config.ph_delta, threshold=config.ph_threshold)
        # The last `window` raw values, scores and times, for summaries.
        self._recent = np.empty(0)
        self._recent_z = np.empty(0)
        self._recent_t = np.empty(0)
        self._win_sum = 0.0
        self._win_n = 0
        self._win_size = config.window
        self._resolve_below = 0.0
        self._batch_start = 0  # series events before the current micro-batch

    def update(
        self, values: np.ndarray, type_errors: np.ndarray, times: np.ndarray
    ) -> list[Signal]:
        """Feed one micro-batch of this series (NaN = missing); return alert status changes."""
        missing = np.isnan(values)
        self.count(missing, type_errors)
        self._batch_start = self.events - len(values)
        positions = np.flatnonzero(~missing)
        x, t = values[positions], times[positions]
        if self.reference is None:
            take = min(self.config.warmup - self._warm_n, len(x))
            self._warm.append(x[:take])
            self._warm_n += take
            if self._warm_n == self.config.warmup:
                self.reference = NumericReference(np.concatenate(self._warm))
                self._warm = []
            positions, x, t = positions[take:], x[take:], t[take:]
        if self.reference is None or len(x) == 0:
            return []

        z = self.reference.normal_scores(x)
        # (index, detector, statistic or None for "the shift", threshold, values since onset,
        # -1 = estimate it). ADWIN exposes no statistic: its value is the shift, its threshold
        # its delta, and its change point is estimated from the recent scores.
        found: list[tuple[int, str, float | None, float, int]] = []
        for index in self._adwin.update_many(z):
            found.append((index, "adwin", None, self._adwin.delta, -1))
        for p in self._ph.update_many(z):
            since = p.index - p.onset
            found.append((p.index, "page_hinkley", p.statistic, self._ph.threshold, since))
        found.sort(key=lambda f: (f[0], f[1]))

        history = np.concatenate([self._recent, x])
        history_z = np.concatenate([self._recent_z, z])
        history_t = np.concatenate([self._recent_t, t])
        offset = len(self._recent)
        signals: list[Signal] = []
        cursor = 0
        for index, detector, value, threshold, since in found:
            signals += self._roll_windows(z, cursor, index, history, history_t, offset, positions)
            cursor = index + 1
            end = offset + index + 1
            if since < 0:
                since = _values_since_change(history_z[max(0, end - self.config.window) : end])
            count = max(1, min(since, self.config.window, end))
            current = history[end - count : end]
            shift = self._shift(current)
            severity: Severity = (
                "critical" if abs(shift) >= self.config.critical_shift else "warning"
            )
            if not self.lifecycle.detect(float(t[index]), severity):
                continue
            self._arm_resolution(float(history_z[end - count : end].mean()))
            statistic = "mean_shift_sd" if value is None else "cusum_sd"
            signals.append(
                self._signal(
                    "firing",
                    detector,
                    statistic,
                    abs(shift) if value is None else value,
                    threshold,
                    positions[index],
                    history_t[end - count : end],
                    current,
                    shift,
                )
            )
        signals += self._roll_windows(z, cursor, len(z), history, history_t, offset, positions)

        keep = self.config.window
        self._recent, self._recent_z = history[-keep:], history_z[-keep:]
        self._recent_t = history_t[-keep:]
        return signals

    def _arm_resolution(self, score_shift: float) -> None:
        """Size the resolve windows for the shift just detected; they start after the firing."""
        shift = max(abs(score_shift), 0.05)
        self._resolve_below = shift / 2.0
        size = max(self.config.window, math.ceil(36.0 / shift**2))
        self._win_size = min(size, 20 * self.config.window)
        self._win_sum, self._win_n = 0.0, 0

    def _roll_windows(
        self,
        z: np.ndarray,
        start: int,
        stop: int,
        history: np.ndarray,
        history_t: np.ndarray,
        offset: int,
        positions: np.ndarray,
    ) -> list[Signal]:
        """Advance the tumbling resolve windows over ``z[start:stop]``."""
        signals: list[Signal] = []
        size = self._win_size
        while start < stop:
            take = min(size - self._win_n, stop - start)
            self._win_sum += float(z[start : start + take].sum())
            self._win_n += take
            start += take
            if self._win_n < size:
                break
            mean = self._win_sum / size
            self._win_sum, self._win_n = 0.0, 0
            consistent = abs(mean) < self._resolve_below
            if self.lifecycle.window_checked(consistent, self.config.resolve_windows):
                end = offset + start
                shown = min(size, end)  # raw values are kept for the last `window` only
                current = history[end - shown : end]
                signals.append(
                    self._signal(
                        "resolved",
                        "score_window",
                        "mean_score_sd",
                        abs(mean),
                        self._resolve_below,
                        positions[start - 1],
                        history_t[end - shown : end],
                        current,
                        self._shift(current),
                    )
                )
        return signals

    def _shift(self, current: np.ndarray) -> float:
        assert self.reference is not None
        ref_mean = self.reference.mean
        scale = self.reference.std if self.reference.std > 0 else 1.0
        return (float(current.mean()) - ref_mean) / scale

    def _signal(
        self,
        status: str,
        detector: str,
        statistic: str,
        value: float,
        threshold: float,
        position: int,
        times: np.ndarray,
        current: np.ndarray,
        shift: float,
    ) -> Signal:
        assert self.reference is not None
        reference = self.reference.summary
        now = describe(current)
        headline = (
            f"mean {reference.mean:.4g} -> {now.mean:.4g} ({shift:+.2f} sd) over the last "
            f"{len(current)} values"
        )
        return Signal(
            position=int(position),
            status="firing" if status == "firing" else "resolved",
            detector=detector,
            statistic=statistic,
            value=float(value),
            threshold=float(threshold),
            severity=self.lifecycle.severity,
            observed_at=float(times[-1]),
            started_at=self.lifecycle.started_at,
            window=_window(times, len(current)),
            reference=reference,
            current=now,
            series_events=self._batch_start + int(position) + 1,
            detections=self.lifecycle.detections,
            headline=headline,
        )


class CategoricalSeries(SeriesCounters):
    """Reference shares, tumbling-window chi-square tests and the alert lifecycle."""

    def __init__(self, config: DetectionConfig) -> None:
        super().__init__()
        self.config = config
        self.reference: CategoricalReference | None = None
        self.lifecycle = Lifecycle()
        self._warm: list[str] = []
        self._win_counts: np.ndarray = np.zeros(0, dtype=np.int64)
        self._win_n = 0
        self._win_first = 0.0

    def update(
        self, values: Sequence[str | None], type_errors: np.ndarray, times: np.ndarray
    ) -> list[Signal]:
        """Feed one micro-batch of this series (None = missing); return alert status changes."""
        missing = np.fromiter((v is None for v in values), bool, len(values))
        self.count(missing, type_errors)
        batch_start = self.events - len(values)
        positions = np.flatnonzero(~missing)
        present = [values[int(i)] for i in positions]
        if self.reference is None:
            take = min(self.config.warmup - len(self._warm), len(present))
            self._warm += [v for v in present[:take] if v is not None]
            if len(self._warm) == self.config.warmup:
                self.reference = CategoricalReference(self._warm, self.config.top_categories)
                self._win_counts = np.zeros(len(self.reference.categories), dtype=np.int64)
                self._warm = []
            positions, present = positions[take:], present[take:]
        if self.reference is None or not present:
            return []

        codes = self.reference.encode([v for v in present if v is not None])
        signals: list[Signal] = []
        size = self.config.window
        start = 0
        while start < len(codes):
            if self._win_n == 0:
                self._win_first = float(times[positions[start]])
            take = min(size - self._win_n, len(codes) - start)
            self._win_counts += np.bincount(
                codes[start : start + take], minlength=len(self._win_counts)
            )
            self._win_n += take
            start += take
            if self._win_n < size:
                break
            position = int(positions[start - 1])
            signal = self._test_window(float(times[position]), batch_start + position + 1, position)
            if signal is not None:
                signals.append(signal)
            self._win_counts[:] = 0
            self._win_n = 0
        return signals

    def _test_window(self, last_time: float, series_events: int, position: int) -> Signal | None:
        assert self.reference is not None
        stat, df, p = chi_square_two_sample(self.reference.counts, self._win_counts)
        threshold = chi_square_threshold(self.config.categorical_alpha, df)
        ref_shares = self.reference.shares(self.reference.counts)
        now_shares = self.reference.shares(self._win_counts)
        change = 0.5 * sum(abs(now_shares[c] - ref_shares[c]) for c in ref_shares)
        if p < self.config.categorical_alpha:
            severity: Severity = (
                "critical" if change >= self.config.critical_shift / 5.0 else "warning"
            )
            if not self.lifecycle.detect(last_time, severity):
                return None
            status = "firing"
        elif self.lifecycle.window_checked(p >= RESOLVE_ALPHA, self.config.resolve_windows):
            status = "resolved"
        else:
            return None
        moved = max(ref_shares, key=lambda c: abs(now_shares[c] - ref_shares[c]))
        headline = (
            f"share of {moved!r} {ref_shares[moved]:.1%} -> {now_shares[moved]:.1%} "
            f"(total variation {change:.3f}) over the last {self._win_n} values"
        )
        return Signal(
            position=position,
            status="firing" if status == "firing" else "resolved",
            detector="chi_square",
            statistic="chi_square",
            value=stat,
            threshold=threshold,
            severity=self.lifecycle.severity,
            observed_at=last_time,
            started_at=self.lifecycle.started_at,
            window=Window(
                count=self._win_n,
                first_event_time=rfc3339(self._win_first),
                last_event_time=rfc3339(last_time),
            ),
            reference=Summary(count=self.reference.size, shares=ref_shares),
            current=Summary(count=self._win_n, shares=now_shares),
            series_events=series_events,
            detections=self.lifecycle.detections,
            headline=headline,
        )
