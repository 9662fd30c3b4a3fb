"""A categorical series: its warm-up here, then every value in the Rust core.

:class:`detector._native.CategoricalCore` counts each window's values per tracked category (the
reference's most frequent ones, the rest pooled as other), tests the counts against the reference
shares (chi-square, PSI, JS, :mod:`detector.detectors.distribution`) and checks missing values,
type errors and never-seen categories (:mod:`detector.quality`). It takes codes: this class maps
each distinct text to its category and to whether the reference knew it.

Shares that wander a little from hour to hour, or runs of one category, make window counts vary
more than independent draws': the chi-square level scales by the categories' variance inflation
at the window's scale (:func:`detector.reference.categorical_dependence`), measured on the
warm-up's order or, with a baseline, on the training file's block shares.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from detector._native import CategoricalCore, CategoricalSettings, SignalRecord, dependence
from detector.alerts import Summary
from detector.columns import MISSING, Categories
from detector.quality import rate_prior
from detector.reference import CategoricalReference, categorical_dependence, inflation_of
from detector.series.base import (
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
        self._warm: list[str] = []  # the warm-up's values in stream order
        self._warm_n = 0  # values collected
        if reference is not None:
            self._start(reference)

    def _start(self, reference: CategoricalReference) -> None:
        self.reference = reference
        cells = int((reference.shares > 0).sum())
        settings = CategoricalSettings(
            windows=window_settings(self.context, reference, cells),
            unseen=rate_prior(reference.unseen_rate * reference.count, reference.count),
            inflation=inflation_of(reference.dependence),
        )
        self._core = CategoricalCore(settings, reference.shares, float(reference.count))

    @property
    def reference_summary(self) -> Summary:
        return self.reference.summary if self.reference else Summary(count=0)

    def begin(
        self,
        values: Categories,
        type_errors: np.ndarray,
        times: np.ndarray,
        rows: np.ndarray | None = None,
    ) -> CoreUpdate | None:
        """The series' events of a batch's column (``rows``: which rows are the series',
        default all) for the core, after what the warm-up takes."""
        self._batch_start = self.events
        rows = np.arange(len(values)) if rows is None else rows
        start = 0
        if self._core is None:
            start = self._warm_up(values.take(rows), type_errors[rows])
            if self._core is None or start == len(rows):
                return None
        table, unseen = self._tables(values.vocabulary)
        arrays = (
            column(values.codes, np.int32),
            table,
            unseen,
            column(type_errors, np.bool_),
            column(times, np.float64),
            column(rows[start:], np.int64),
        )
        return CoreUpdate(self, start, arrays)

    def _tables(self, vocabulary: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each text's category code (other last) and whether the reference never saw it:
        computed once per distinct text of the column."""
        ref = self.reference
        assert ref is not None
        index = {c: i for i, c in enumerate(ref.categories)}
        other = len(ref.categories)
        n = len(vocabulary)
        table = np.fromiter((index.get(t, other) for t in vocabulary), np.int32, n)
        unseen = np.fromiter((t not in ref.known for t in vocabulary), np.bool_, n)
        return table, unseen

    def _warm_up(self, values: Categories, errors: np.ndarray) -> int:
        missing = values.codes == MISSING
        need = self.config.warmup - self._warm_n
        filled = np.cumsum(~missing)
        used = int(np.searchsorted(filled, need)) + 1 if filled[-1] >= need else len(values)
        taken = values.take(slice(0, used))
        vocabulary = taken.vocabulary
        texts = [vocabulary[c] for c in taken.codes.tolist() if c >= 0]
        self._warm += texts
        self._warm_n += len(texts)
        self._warm_counts(used, missing, errors)
        if self._warm_n == self.config.warmup:
            reference = CategoricalReference.from_counts(
                Counter(self._warm),
                self.config.top_categories,
                self._warm_missing,
                self._warm_errors,
            )
            codes = reference.encode(self._warm)
            scale = self.config.window
            reference.dependence = categorical_dependence(
                reference, lambda i, _: dependence((codes == i).astype(np.float64), scale)
            )
            reference.missing_dependence = self._missing_dependence()
            self._warm = []
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
