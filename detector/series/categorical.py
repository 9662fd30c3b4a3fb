"""A categorical series: window tests of category shares and the categorical checks."""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Sequence
from functools import partial
from itertools import repeat

import numpy as np

from detector.alerts import Signal, Summary
from detector.detectors.distribution import categorical_tests
from detector.quality import rate_check
from detector.reference import CategoricalReference
from detector.series.base import (
    RESOLVE_ALPHA,
    Evidence,
    SeriesBase,
    SeriesContext,
    WindowVerdict,
    window_of,
)
from detector.sketches import CategoryCounts


class CategoricalSeries(SeriesBase):
    """Reference shares, chi-square / PSI / JS windows, missing, type and unseen checks."""

    def __init__(
        self, context: SeriesContext, reference: CategoricalReference | None = None
    ) -> None:
        super().__init__(context)
        self.reference = reference
        self._warm: Counter[str] = Counter()
        self._warm_n = self._warm_missing = self._warm_errors = 0
        self._counts = np.zeros(0, dtype=np.int64)
        self._events = self._missing = self._errors = self._unseen = 0
        self._first = self._last = math.nan
        self.totals = CategoryCounts([])  # all values since the reference, by category
        if reference is not None:
            self._counts = np.zeros(len(reference.categories) + 1, dtype=np.int64)
            self.totals = CategoryCounts(reference.categories)

    @property
    def reference_summary(self) -> Summary:
        return self.reference.summary if self.reference else Summary(count=0)

    def update(
        self, values: Sequence[str | None], type_errors: np.ndarray, times: np.ndarray
    ) -> list[Signal]:
        """Feed one micro-batch of this series (None = missing); return alert status changes."""
        missing = np.fromiter(map(operator.is_, values, repeat(None)), bool, len(values))
        self._count(missing, type_errors)
        start = 0 if self.reference is not None else self._warm_up(values, missing, type_errors)
        if self.reference is None or start == len(values):
            return []
        codes, unseen = self._encode(values)
        signals: list[Signal] = []
        cursor = start
        for end in self.clock.closes(times[start:]):
            stop = start + end + 1
            self._accumulate(codes, unseen, missing, type_errors, times, cursor, stop)
            cursor = max(cursor, stop)
            signals += self._close(stop - 1)
        self._accumulate(codes, unseen, missing, type_errors, times, cursor, len(values))
        return signals

    def _encode(self, values: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Each value's category code (missing ones get ``len(self._counts)``, one past other)
        and whether it is a present value the reference never saw: once per batch, with the
        per-value loops in C (``map``), so windows only slice."""
        assert self.reference is not None
        other = len(self.reference.categories)
        code: dict[str | None, int] = {c: i for i, c in enumerate(self.reference.categories)}
        code[None] = other + 1  # categories are strings: None never collides
        n = len(values)
        codes = np.fromiter(map(code.get, values, repeat(other)), np.int64, n)
        seen = np.fromiter(map(self.reference.known.__contains__, values), bool, n)
        return codes, ~seen & (codes <= other)

    def _warm_up(
        self, values: Sequence[str | None], missing: np.ndarray, errors: np.ndarray
    ) -> int:
        used = 0
        for value, is_missing, is_error in zip(values, missing, errors, strict=True):
            if self._warm_n == self.config.warmup:
                break
            used += 1
            if value is not None:
                self._warm[value] += 1
                self._warm_n += 1
            elif is_error:
                self._warm_errors += 1
            elif is_missing:
                self._warm_missing += 1
        if self._warm_n == self.config.warmup:
            self.reference = CategoricalReference.from_counts(
                self._warm, self.config.top_categories, self._warm_missing, self._warm_errors
            )
            self._counts = np.zeros(len(self.reference.categories) + 1, dtype=np.int64)
            self.totals = CategoryCounts(self.reference.categories)
            self._warm = Counter()
        return used

    def _accumulate(
        self,
        codes: np.ndarray,
        unseen: np.ndarray,
        missing: np.ndarray,
        errors: np.ndarray,
        times: np.ndarray,
        start: int,
        stop: int,
    ) -> None:
        if stop <= start:
            return
        size = len(self._counts)  # categories and other; code `size` is a missing value
        self._counts += np.bincount(codes[start:stop], minlength=size + 1)[:size]
        self._unseen += int(unseen[start:stop].sum())
        self._events += stop - start
        self._errors += int(errors[start:stop].sum())
        self._missing += int((missing[start:stop] & ~errors[start:stop]).sum())
        if math.isnan(self._first):
            self._first = float(times[start])
        self._last = float(times[stop - 1])

    def _close(self, position: int) -> list[Signal]:
        assert self.reference is not None
        ref, alpha = self.reference, self.context.alpha
        if self._events == 0:
            return []
        n = int(self._counts.sum())
        self.totals.counts += self._counts
        now = ref.share_map(self._counts)
        before = ref.summary.shares or {}
        change = 0.5 * sum(abs(now[c] - before.get(c, 0.0)) for c in now)
        verdict = WindowVerdict(shift=change * 5.0)  # critical_shift 1.0 = 0.2 total variation
        if n >= self.config.min_window_values:
            counts = self._counts.copy()
            self.last_counts = counts
            verdict.drift = categorical_tests(counts, ref.shares, alpha, ref.count)

            def drift_clean() -> bool:
                loose = categorical_tests(counts, ref.shares, RESOLVE_ALPHA, ref.count)
                return not any(r.fired for r in loose)

            verdict.drift_clean = drift_clean
        checks = [
            (
                "missing_rate",
                self._missing,
                self._events,
                ref.missing_rate * ref.events,
                ref.events,
            ),
            (
                "type_errors",
                self._errors,
                self._events,
                ref.type_error_rate * ref.events,
                ref.events,
            ),
        ]
        if n:
            unseen = ref.unseen_rate * ref.count
            checks.append(("unseen_categories", self._unseen, n, unseen, ref.count))
        for name, count, total, seen, size in checks:
            check = partial(rate_check, name, count, total, seen, size)
            verdict.add_check(check, alpha)
        events, first, last = self._events, self._first, self._last

        def evidence() -> Evidence:
            moved = max(now, key=lambda c: abs(now[c] - before.get(c, 0.0)))
            headline = (
                f"share of {moved!r} {before.get(moved, 0.0):.1%} -> {now[moved]:.1%} "
                f"(total variation {change:.3f}) over {n} values"
            )
            window = window_of(events, first, last)
            return Evidence(position, last, window, Summary(count=n, shares=now), headline)

        self._counts[:] = 0
        self._events = self._missing = self._errors = self._unseen = 0
        self._first = self._last = math.nan
        return self.judge(verdict, last, evidence)
