"""A numeric series: its warm-up here, then every value in the Rust core.

:class:`detector._native.NumericCore` turns each value into its normal score (the mid-rank in
the reference CDF through the inverse normal CDF, :mod:`detector.reference`), feeds ADWIN and
Page-Hinkley with the scores, and closes tumbling windows with the binned tests (PSI, JS, KS,
Wasserstein, :mod:`detector.detectors.distribution`) and the checks (missing, type errors, out of
range, constant, :mod:`detector.quality`). A change point is described from the values since its
estimated start: Page-Hinkley's own estimate, or for ADWIN the CUSUM split of the last window
(the split maximising ``|S_k - k/n * S_n|``), at most one window.

**Serial dependence.** Means of dependent values vary more than independent ones': by
``(1 + phi) / (1 - phi)`` under AR(1), by other factors for a count whose rate wanders or for
long memory. So the series measures the variance inflation at the scale its windows test (the
largest of the lag-1 factor, a Bartlett long-run variance ratio and, over long inputs, the
variance of window-sized block means; each kept only beyond its own noise), stores it as the
AR(1)-equivalent ``phi``, and scales window-test thresholds and Page-Hinkley's level by the
factor; ADWIN's delta becomes ``delta ** factor``. It is measured on the warm-up's ranks, or
on the training file's order; a baseline's order may not be the stream's (training data is
often shuffled), so its series also measure their first ``warmup`` live scores and take the
larger.

**Seasonality.** A reference with a phase profile (a baseline that showed a daily or weekly
cycle, :mod:`detector.seasonal`) holds seasonally adjusted values, so :meth:`begin` hands the
core adjusted copies of the series' rows (a copy only for such series; the others pass their
columns as they are). Everything the core reports, change-point summaries included, is then in
adjusted values, and headlines say so. Configured ``bounds`` apply to adjusted values at the
most lenient phase.
"""

from __future__ import annotations

import numpy as np

from detector._native import NumericCore, NumericSettings, SignalRecord
from detector.alerts import Summary
from detector.detectors.distribution import TestResult
from detector.detectors.plugins import PluginSet
from detector.quality import rate_prior
from detector.reference import NumericReference, describe
from detector.series.base import (
    CoreUpdate,
    SeriesBase,
    SeriesContext,
    column,
    window_settings,
)

# The extremes of a small reference (a 1,000-value warm-up) say little about the range of
# heavy-tailed data, so without configured bounds only a large (training) reference is used.
RANGE_FROM_REFERENCE = 10_000


class NumericSeries(SeriesBase):
    """Reference, detectors, window tests and checks of one numeric series."""

    _core: NumericCore | None

    def __init__(self, context: SeriesContext, reference: NumericReference | None = None) -> None:
        super().__init__(context)
        self.reference: NumericReference | None = None
        self._warm: list[np.ndarray] = []
        self._warm_n = 0  # values collected
        self._plugins: PluginSet | None = None  # configured detectors, once the core exists
        if reference is not None:
            self._start(reference, learn_dependence=True)

    def _start(self, reference: NumericReference, learn_dependence: bool) -> None:
        self.reference = reference
        low, high = self.context.bounds or (reference.min, reference.max)
        if self.context.bounds and reference.season is not None:
            low, high = reference.season.bounds(low, high)  # the core sees adjusted values
        reference_arrays = {
            "quantiles": reference.quantiles,
            "count": float(reference.count),
            "mean": reference.mean,
            "std": reference.std,
            "edges": reference.bin_edges,
            "probs": reference.bin_probs,
            "mode_share": reference.mode_share,
            "low": low,
            "high": high,
        }
        self._core = NumericCore(
            self._settings(reference), reference_arrays, reference.dependence, learn_dependence
        )

    def _settings(self, ref: NumericReference) -> NumericSettings:
        config, cells = self.config, int((ref.bin_probs > 0).sum())
        if self.context.bounds:  # configured bounds: the reference is taken as all inside
            range_check = ("bounds", *rate_prior(0.0, ref.count))
        elif ref.count >= RANGE_FROM_REFERENCE:
            range_check = ("beyond", 1.0, float(ref.count))
        else:
            range_check = ("off", 0.0, 0.0)
        return NumericSettings(
            windows=window_settings(self.context, ref, cells),
            warmup=config.warmup,
            adwin_delta=config.adwin_delta,
            ph_delta=config.ph_delta,
            ph_threshold=config.ph_threshold,
            range=range_check,
        )

    @property
    def dependence(self) -> float:
        """The AR(1)-equivalent dependence the thresholds are calibrated for (0 = independent)."""
        return float(self._core.dependence) if self._core is not None else 0.0

    @property
    def reference_summary(self) -> Summary:
        return self.reference.summary if self.reference else Summary(count=0)

    def totals(self, quantiles: tuple[float, ...] = (0.01, 0.5, 0.99)) -> Summary | None:
        """All values since the reference (moments and sketched quantiles); None in warm-up."""
        if self._core is None:
            return None
        count, mean, std, low, high, at = self._core.totals(list(quantiles))
        return Summary(count=count, mean=mean, std=std, min=low, p50=at[1], max=high)

    def drift_statistics(self) -> dict[str, TestResult]:
        """The window tests, plus Page-Hinkley's running value and the recent mean score."""
        stats = super().drift_statistics()
        cusum = self._view("cusum", None)
        if cusum is not None:
            stats["cusum_sd"] = TestResult("cusum_sd", *cusum)
        recent = self._view("recent_scores", np.empty(0))
        if len(recent):
            # Mean of N(0,1) scores: 4 standard errors is a clear shift.
            noise = 4.0 / float(np.sqrt(len(recent)))
            stats["mean_score_sd"] = TestResult("mean_score_sd", float(recent.mean()), noise)
        return stats

    def begin(
        self,
        values: np.ndarray,
        type_errors: np.ndarray,
        times: np.ndarray,
        rows: np.ndarray | None = None,
    ) -> CoreUpdate | None:
        """The series' events of a batch's columns (NaN = missing; ``rows``: which rows are
        the series', default all) for the core, after what the warm-up takes."""
        self._batch_start = self.events
        rows = np.arange(len(values)) if rows is None else rows
        start = 0
        if self._core is None:
            start = self._warm_up(values[rows], type_errors[rows])
            if self._core is None or start == len(rows):
                return None
        season = self.reference.season if self.reference is not None else None
        if season is not None:  # adjusted copies of the series' own rows (only seasonal ones)
            picked = rows[start:]
            arrays: tuple[np.ndarray, ...] = (
                season.adjust(column(values[picked], np.float64), times[picked]),
                column(type_errors[picked], np.bool_),
                column(times[picked], np.float64),
                np.arange(len(picked), dtype=np.int64),
            )
        else:
            arrays = (
                column(values, np.float64),
                column(type_errors, np.bool_),
                column(times, np.float64),
                column(rows[start:], np.int64),
            )
        if not self.context.plugins:
            self._plugins = None  # (a restored series whose config dropped them)
            return CoreUpdate(self, start, arrays)
        return CoreUpdate(self, start, arrays, self._run_plugins(arrays[0][arrays[3]]))

    def _run_plugins(self, values: np.ndarray) -> dict[int, str]:
        """The configured detectors on this update's values, in order; where they detect goes
        to the core, which judges those detections in their place in the stream."""
        assert self._core is not None
        if self._plugins is None:
            self._plugins = PluginSet(self.context.plugins)
        self._plugins.bind(self.context.plugins)
        positions = np.flatnonzero(~np.isnan(values))
        present = values[positions]
        kinds = {p.input for p in self.context.plugins}
        inputs = {
            "value": present.tolist() if "value" in kinds else [],
            "score": self._core.normal_scores(present).tolist() if "score" in kinds else [],
        }
        hits = self._plugins.detect(inputs, positions.tolist())
        self._core.set_hits(np.array(sorted(hits), dtype=np.int64))
        return hits

    def _warm_up(self, values: np.ndarray, errors: np.ndarray) -> int:
        missing = np.isnan(values)
        need = self.config.warmup - self._warm_n
        filled = np.cumsum(~missing)
        used = int(np.searchsorted(filled, need)) + 1 if filled[-1] >= need else len(values)
        taken = values[:used][~missing[:used]]
        self._warm.append(taken)
        self._warm_n += len(taken)
        self._warm_counts(used, missing, errors)
        if self._warm_n == self.config.warmup:
            sample = np.concatenate(self._warm)
            reference = NumericReference.from_sample(
                sample, self._warm_missing, self._warm_errors, scale=self.config.window
            )
            reference.missing_dependence = self._missing_dependence()
            self._warm = []
            self._start(reference, learn_dependence=False)
        return used

    def current(self, record: SignalRecord) -> Summary:
        return describe(record.values)

    def drift_headline(self, record: SignalRecord, current: Summary) -> str:
        assert self.reference is not None
        if not current.count:
            return "no values in the window"
        season = self.reference.season
        return (
            f"mean {self.reference.mean:.4g} -> {current.mean:.4g} ({record.shift:+.2f} sd), "
            f"std {self.reference.std:.4g} -> {current.std:.4g} over {current.count} values"
            + (f" (adjusted for the {season.name} cycle)" if season is not None else "")
        )
