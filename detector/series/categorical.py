"""A categorical series: its warm-up here, then every value in the Rust core.

:class:`detector._native.CategoricalCore` counts each window's values per tracked category (the
reference's most frequent ones, the rest pooled as other), tests the counts against the reference
shares (chi-square, PSI, JS, :mod:`detector.detectors.distribution`) and checks missing values,
type errors and never-seen categories (:mod:`detector.quality`). It takes codes: this class maps
each distinct text to its category and to whether the reference knew it.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from detector._native import CategoricalCore, SignalRecord
from detector.alerts import Summary
from detector.columns import MISSING, Categories
from detector.detectors.distribution import chi2_level
from detector.quality import rate_prior
from detector.reference import CategoricalReference
from detector.series.base import (
    RESOLVE_ALPHA,
    CoreUpdate,
    SeriesBase,
    SeriesContext,
    column,
    window_settings,
)


class CategoricalSeries(SeriesBase):
    """Reference shares, chi-square / PSI / JS windows, missing, type and unseen checks."""

    _core: CategoricalCore | None

    def __init__(
        self, context: SeriesContext, reference: CategoricalReference | None = None
    ) -> None:
        super().__init__(context)
        self.reference: CategoricalReference | None = None
        self._warm: Counter[str] = Counter()
        self._warm_n = 0  # values collected
        if reference is not None:
            self._start(reference)

    def _start(self, reference: CategoricalReference) -> None:
        self.reference = reference
        cells = int((reference.shares > 0).sum())
        settings = {
            **window_settings(
                self.context,
                rate_prior(reference.missing_rate * reference.events, reference.events),
                rate_prior(reference.type_error_rate * reference.events, reference.events),
            ),
            "chi2_level": chi2_level(self.context.alpha, cells),
            "chi2_resolve_level": chi2_level(RESOLVE_ALPHA, cells),
            "unseen": rate_prior(reference.unseen_rate * reference.count, reference.count),
        }
        self._core = CategoricalCore(settings, reference.shares, float(reference.count))

    @property
    def reference_summary(self) -> Summary:
        return self.reference.summary if self.reference else Summary(count=0)

    def begin(
        self, values: Categories, type_errors: np.ndarray, times: np.ndarray
    ) -> CoreUpdate | None:
        """A batch for the core, after what the warm-up takes."""
        self._batch_start = self.events
        start = 0 if self._core is not None else self._warm_up(values, type_errors)
        if self._core is None or start == len(values):
            return None
        codes, unseen = self._encode(values.take(slice(start, None)))
        arrays = (
            codes,
            unseen,
            column(type_errors[start:], np.bool_),
            column(times[start:], np.float64),
        )
        return CoreUpdate(self, start, arrays)

    def _encode(self, values: Categories) -> tuple[np.ndarray, np.ndarray]:
        """Each value's category code (-1 missing, other last) and whether it is a present
        value the reference never saw: looked up once per distinct text."""
        ref = self.reference
        assert ref is not None
        index = {c: i for i, c in enumerate(ref.categories)}
        other = len(ref.categories)
        codes = values.lookup(lambda text: index.get(text, other), MISSING, np.int32)
        unseen = values.lookup(lambda text: text not in ref.known, False, bool)
        return codes, unseen

    def _warm_up(self, values: Categories, errors: np.ndarray) -> int:
        missing = values.codes == MISSING
        need = self.config.warmup - self._warm_n
        filled = np.cumsum(~missing)
        used = int(np.searchsorted(filled, need)) + 1 if filled[-1] >= need else len(values)
        taken = values.take(slice(0, used)).counts()
        self._warm.update(taken)
        self._warm_n += sum(taken.values())
        self._warm_counts(used, missing, errors)
        if self._warm_n == self.config.warmup:
            reference = CategoricalReference.from_counts(
                self._warm, self.config.top_categories, self._warm_missing, self._warm_errors
            )
            self._warm = Counter()
            self._start(reference)
        return used

    def current(self, record: SignalRecord) -> Summary:
        assert self.reference is not None
        counts = record.values
        return Summary(count=int(counts.sum()), shares=self.reference.share_map(counts))

    def drift_headline(self, record: SignalRecord, current: Summary) -> str:
        assert self.reference is not None and current.shares is not None
        now, before = current.shares, self.reference_summary.shares or {}
        change = 0.5 * sum(abs(now[c] - before.get(c, 0.0)) for c in now)
        moved = max(now, key=lambda c: abs(now[c] - before.get(c, 0.0)))
        return (
            f"share of {moved!r} {before.get(moved, 0.0):.1%} -> {now[moved]:.1%} "
            f"(total variation {change:.3f}) over {current.count} values"
        )
