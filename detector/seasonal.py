"""Phase profiles: what is normal at each phase of a daily or weekly cycle in event time.

A feature that follows the time of day (amounts, latencies, sensor readings) moves through its
cycle all day long; compared with one pooled reference, every hour looks like drift. A
:class:`PhaseProfile` holds, per phase bin of the period (hours of the day, or of the week), the
mean and standard deviation of the feature, and :meth:`PhaseProfile.adjust` maps a value ``x``
seen at time ``t`` to ``mean + std * (x - m(t)) / s(t)``, where ``m`` and ``s`` interpolate
linearly between bin centres. Adjusted values stay on the feature's own scale (``mean`` is the
overall mean, ``std`` the pooled within-phase standard deviation), so the rest of the engine
(normal scores, ADWIN, Page-Hinkley, window tests) runs unchanged on them: a cycle that repeats
vanishes, a cycle that changes (or any other change) remains.

A :class:`PhaseAccumulator` collects training values with their event times and
:meth:`PhaseAccumulator.fit` returns a profile only for a real, repeating pattern:

- at least two cycles each cover (almost, ``COVER``) every phase bin seen, with ``MIN_CELL``
  values per bin;
- per candidate period (daily and weekly, or the one the config names), cycles are replicates:
  cell means per (cycle, phase bin) go through a two-way analysis of variance (cycle + phase,
  cells weighted by their counts). The phase effect is tested against the cycle-by-phase
  interaction, i.e. against how much the *same* phase differs between cycles, never against the
  within-bin spread of single values. Serial dependence inflates both alike, so AR(1) noise
  with no cycle does not pass, and i.i.d. noise does not either; the level is ``LEVEL``
  (``RELATED_LEVEL`` for a period another series of the same feature showed, see
  :mod:`detector.baseline`);
- the same test on the log of the cells' mean absolute difference between successive values
  finds a cycle in spread (e.g. wider amounts at night); unlike a variance, that measure needs
  no centre and a few extreme values of a heavy-tailed feature barely move it;
- a longer period (weekly) is chosen over a shorter one it contains (daily) only when its extra
  pattern (the days of the week differ) passes the nested test.

Cycles are counted from the earliest time of the first values (``GROUPS`` replicate groups,
cycle number modulo ``GROUPS``), so a file that starts mid-day still holds two full cycles after
two days; one set of cells (hours, over ``GROUPS`` weeks) serves both daily and weekly.

>>> rng = np.random.default_rng(7)
>>> times = 1_767_225_600.0 + np.arange(0.0, 3 * DAY, 30.0)  # a value every 30 s, three days
>>> values = 10 + np.sin(2 * np.pi * times / DAY) + rng.normal(0.0, 0.5, len(times))
>>> phases = PhaseAccumulator([DAY, WEEK])
>>> phases.add(values, times)
>>> profile = phases.fit()
>>> profile.name, profile.bins, round(profile.mean, 3), round(profile.std, 3)
('daily', 24, 9.992, 0.496)
>>> round(float(values.std()), 3), round(float(profile.adjust(values, times).std()), 3)
(0.854, 0.493)
>>> noise = PhaseAccumulator([DAY, WEEK])
>>> noise.add(rng.normal(10.0, 0.5, len(times)), times)
>>> print(noise.fit())
None
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import f as f_dist

DAY = 86_400.0
WEEK = 7 * DAY
BINS = 24  # phase bins of the shortest candidate period (a week then has 168)
LEVEL = 1e-5  # significance of a phase pattern (per period, for the mean and the spread)
RELATED_LEVEL = 1e-2  # the same, for a period another series of the feature has shown
MIN_CELL = 5  # values a (cycle, bin) cell needs to count as covered
COVER = 0.9  # share of the seen bins a cycle must cover to serve as a replicate
GROUPS = 16  # replicate groups: cycle number modulo GROUPS
SHRINK = 20.0  # pseudo-values pulling a sparse bin toward its neighbours
MIN_PERIOD, MAX_PERIOD = 60.0, 366 * DAY
FLUSH = 2048  # values a PhaseAccumulator collects before it counts them (fewer numpy calls)
_NAMES = {DAY: "daily", WEEK: "weekly"}


def candidate_periods(period: str | float) -> tuple[float, ...]:
    """The periods (seconds) a ``detection.season.period`` setting tries.

    >>> candidate_periods("auto"), candidate_periods("off"), candidate_periods(3600)
    ((86400.0, 604800.0), (), (3600.0,))
    """
    named = {"auto": (DAY, WEEK), "off": (), "daily": (DAY,), "weekly": (WEEK,)}
    if isinstance(period, str):
        return named[period]
    return (float(period),)


@dataclass
class PhaseProfile:
    """Mean and std per phase bin of ``period`` seconds (bin 0 starts at epoch multiples)."""

    period: float
    means: np.ndarray  # per bin
    stds: np.ndarray  # per bin, > 0
    mean: float  # overall mean
    std: float  # pooled within-bin std (the adjusted values' spread)

    @property
    def bins(self) -> int:
        return len(self.means)

    @property
    def name(self) -> str:
        """``daily``, ``weekly`` or the period in seconds."""
        return _NAMES.get(self.period, f"{self.period:g} s")

    def level(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std at each time, linear between bin centres (around the cycle)."""
        x = np.remainder(times, self.period) * (self.bins / self.period) - 0.5
        low = np.floor(x)
        frac = x - low
        i = low.astype(np.int64) % self.bins
        j = (i + 1) % self.bins
        m, s = self.means, self.stds
        return m[i] + frac * (m[j] - m[i]), s[i] + frac * (s[j] - s[i])

    def adjust(self, values: np.ndarray, times: np.ndarray) -> np.ndarray:
        """``mean + std * (x - m(t)) / s(t)``: values as if seen at an average phase (NaN
        stays NaN)."""
        m, s = self.level(np.asarray(times, dtype=np.float64))
        return np.asarray(self.mean + self.std * (values - m) / s)

    def bounds(self, low: float, high: float) -> tuple[float, float]:
        """Raw bounds as bounds on adjusted values, at the most lenient phase (the bounds vary
        with the phase; between bin centres they move monotonically)."""
        low_at = self.mean + self.std * (low - self.means) / self.stds
        high_at = self.mean + self.std * (high - self.means) / self.stds
        return float(low_at.min()), float(high_at.max())

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "means": self.means.tolist(),
            "stds": self.stds.tolist(),
            "mean": self.mean,
            "std": self.std,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseProfile:
        """From :meth:`to_dict`'s numbers; ValueError when they do not make a profile."""
        means = np.asarray(data["means"], dtype=np.float64)
        stds = np.asarray(data["stds"], dtype=np.float64)
        profile = cls(float(data["period"]), means, stds, float(data["mean"]), float(data["std"]))
        finite = np.isfinite(means).all() and np.isfinite(stds).all()
        if not (MIN_PERIOD <= profile.period <= MAX_PERIOD) or means.ndim != 1:
            raise ValueError(f"season: period {profile.period} or bins {means.shape} invalid")
        if len(means) < 2 or stds.shape != means.shape or not finite or (stds <= 0).any():
            raise ValueError("season: means and stds must be finite, stds positive, same length")
        if not (np.isfinite(profile.mean) and np.isfinite(profile.std) and profile.std > 0):
            raise ValueError("season: mean and std must be finite, std positive")
        return profile


@dataclass
class _Anova:
    """Two-way (cycle + phase) analysis of cell statistics ``y`` (groups x bins)."""

    bin_means: np.ndarray
    weights: np.ndarray  # per bin: harmonic mean of the cells' counts
    groups: int
    ms_bin: float
    df_bin: int
    ms_int: float
    df_int: int

    @classmethod
    def of(cls, y: np.ndarray, weights: np.ndarray) -> _Anova:
        groups, bins = y.shape
        col = y.mean(axis=0)
        row = (y * weights).sum(axis=1) / weights.sum()
        grand = float((col * weights).sum() / weights.sum())
        resid = y - col[None, :] - row[:, None] + grand
        df_bin, df_int = bins - 1, (groups - 1) * (bins - 1)
        ss_bin = groups * float((weights * (col - grand) ** 2).sum())
        ss_int = float((weights * resid**2).sum())
        return cls(col, weights, groups, ss_bin / df_bin, df_bin, ss_int / df_int, df_int)

    @staticmethod
    def p_value(ms: float, df: int, ms_int: float, df_int: int) -> float:
        if ms <= 0 or df <= 0:
            return 1.0
        if ms_int <= 1e-12 * ms:
            return 0.0
        return float(f_dist.sf(ms / ms_int, df, df_int))

    @property
    def p(self) -> float:
        return self.p_value(self.ms_bin, self.df_bin, self.ms_int, self.df_int)

    def extra_p(self, shorter: int, used: np.ndarray) -> float:
        """The nested test: does this (longer) period's pattern differ from the one folded
        onto ``shorter`` bins (``used``: which of this period's bins the cells cover)?"""
        fold = np.flatnonzero(used) % shorter
        w, col = self.weights, self.bin_means
        total = np.bincount(fold, w, shorter)
        sums = np.bincount(fold, w * col, shorter)
        folded = np.divide(sums, total, out=np.zeros_like(sums), where=total > 0)
        df = len(col) - len(np.unique(fold))
        ss = self.groups * float((w * (col - folded[fold]) ** 2).sum())
        return self.p_value(ss / max(df, 1), df, self.ms_int, self.df_int)


@dataclass
class _Candidate:
    period: float
    mean: _Anova
    spread: _Anova | None  # None when a cell has no spread (constant values)
    used: np.ndarray
    level: float = LEVEL

    @property
    def p(self) -> float:
        """The smaller p-value of the mean and spread patterns."""
        return min(test.p for test in (self.mean, self.spread) if test is not None)

    def real(self) -> tuple[bool, bool]:
        """(mean pattern real, spread pattern real)."""
        real_spread = self.spread is not None and self.spread.p < self.level
        return self.mean.p < self.level, real_spread


class PhaseAccumulator:
    """Count, sum, sum of squares, and the sum and count of absolute differences between
    successive values, per cell of ``width`` seconds (the shortest candidate period's bin) since
    the first values, over ``GROUPS`` cycles of the longest period (folded beyond): every
    candidate's (cycle, phase bin) table is a regrouping of these cells.

    The successive differences are a location-free spread measure that a few extreme values of
    a heavy-tailed feature move far less than a variance.
    """

    def __init__(self, periods: Sequence[float]) -> None:
        self.periods = tuple(sorted(float(p) for p in periods))
        if not self.periods:
            raise ValueError("no candidate period")
        self.width = self.periods[0] / BINS
        self.bins = [round(p / self.width) for p in self.periods]
        exact = all(
            abs(b * self.width - p) <= 1e-9 * p
            for b, p in zip(self.bins, self.periods, strict=True)
        )
        if not exact or any(self.bins[-1] % b for b in self.bins):
            raise ValueError("periods must divide the longest and be multiples of the shortest")
        self.size = self.bins[-1] * GROUPS
        self.cells = np.zeros((5, self.size))  # n, sum, squares, |differences|, pairs
        self.previous = np.full(self.size, np.nan)  # each cell's latest value
        self.origin: float | None = None  # cycles start here (the first values' earliest cell)
        self.first = float("inf")
        self.last = float("-inf")
        self.shift = 0.0  # the first value: sums are of x - shift, for precision
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_n = 0

    def add(self, values: np.ndarray, times: np.ndarray) -> None:
        """Values (NaN = missing, skipped) and their event times, in any order."""
        present = ~np.isnan(values)
        self._pending.append((values[present], np.asarray(times, dtype=np.float64)[present]))
        self._pending_n += len(self._pending[-1][0])
        if self._pending_n >= FLUSH:
            self._flush()

    def _flush(self) -> None:
        x = np.concatenate([v for v, _ in self._pending]) if self._pending else np.empty(0)
        t = np.concatenate([t for _, t in self._pending]) if self._pending else np.empty(0)
        self._pending, self._pending_n = [], 0
        if not len(x):
            return
        if self.origin is None:
            self.origin = float(np.floor(t.min() / self.width) * self.width)
            self.shift = float(x[0])
        self.first, self.last = min(self.first, float(t.min())), max(self.last, float(t.max()))
        x = x - self.shift
        index = np.floor((t - self.origin) / self.width).astype(np.int64) % self.size
        small = np.int16 if self.size <= np.iinfo(np.int16).max else np.int64
        order = np.argsort(index.astype(small), kind="stable")  # int16: a radix sort
        cell, value = index[order], x[order]
        follows = np.empty(len(cell), dtype=bool)
        follows[0], follows[1:] = False, cell[1:] == cell[:-1]
        gap = np.abs(value - np.where(follows, np.roll(value, 1), self.previous[cell]))
        paired = ~np.isnan(gap)
        last = np.flatnonzero(np.append(~follows[1:], True))
        self.previous[cell[last]] = value[last]
        self.cells[0] += np.bincount(index, minlength=self.size)
        self.cells[1] += np.bincount(index, x, self.size)
        self.cells[2] += np.bincount(index, x * x, self.size)
        self.cells[3] += np.bincount(cell[paired], gap[paired], self.size)
        self.cells[4] += np.bincount(cell[paired], None, self.size)

    def table(self, period: float) -> np.ndarray:
        """The five sums per (cycle group, phase bin) of one candidate ``period``."""
        bins = self.bins[self.periods.index(period)]
        start = round((self.origin or 0.0) % period / self.width)  # the origin's phase bin
        k = np.arange(self.size)
        index = (k // bins) % GROUPS * bins + (start + k) % bins
        table = [np.bincount(index, stat, GROUPS * bins) for stat in self.cells]
        return np.stack(table).reshape(5, GROUPS, bins)

    def fit(
        self, level: float = LEVEL, periods: Sequence[float] | None = None
    ) -> PhaseProfile | None:
        """The profile of the strongest real, repeating pattern, or None; ``level``: the
        significance a pattern needs, ``periods``: the candidates to try (default all)."""
        self._flush()
        chosen: tuple[np.ndarray, _Candidate] | None = None
        for period in self.periods:  # shortest first
            if self.last - self.first < (1 + COVER) * period:
                continue  # cannot hold two cycles that cover their bins
            if periods is not None and period not in periods:
                continue
            table = self.table(period)
            candidate = _candidate(period, table)
            if candidate is not None:
                candidate.level = level
            if candidate is None or not any(candidate.real()):
                continue
            if chosen is None or _extends(candidate, chosen[1]):
                chosen = table, candidate
        if chosen is None:
            return None
        return _profile(chosen[1], chosen[0], self.shift)


def _candidate(period: float, table: np.ndarray) -> _Candidate | None:
    """The cycles covering (almost) every seen bin as replicates, on the bins all of them
    cover; None when fewer than two cycles (or three bins) qualify."""
    counts, sums, _, gaps, pairs = table
    covered = counts >= MIN_CELL
    seen = covered.sum(axis=0) >= 2
    if seen.sum() < max(3, table.shape[2] // 2):
        return None
    full = covered[:, seen].mean(axis=1) >= COVER
    used = covered[full].all(axis=0) & seen
    if full.sum() < 2 or used.sum() < 3:
        return None
    c, s = counts[full][:, used], sums[full][:, used]
    weights = full.sum() / (1.0 / c).sum(axis=0)
    g, m = gaps[full][:, used], pairs[full][:, used]
    spread = None
    if (g > 0).all():
        spread = _Anova.of(np.log(g / m), full.sum() / (1.0 / m).sum(axis=0))
    return _Candidate(period, _Anova.of(s / c, weights), spread, used)


def _profile(chosen: _Candidate, table: np.ndarray, shift: float) -> PhaseProfile | None:
    """Per-bin means and stds over every cycle, the parts not real (mean, spread) flat;
    ``shift``: what the sums are offset by."""
    n, sums, squares, gaps, pairs = table.sum(axis=1)
    seen = n > 0
    means = np.divide(sums, n, out=np.zeros_like(sums), where=seen)
    variances = np.divide(squares, n, out=np.zeros_like(sums), where=seen) - means**2
    pooled = float((n * np.maximum(variances, 0.0)).sum() / n.sum()) ** 0.5
    overall = float(sums.sum() / n.sum())
    if not pooled > 0:
        return None
    mean_real, spread_real = chosen.real()
    means = _smooth(means, n) if mean_real else np.full(len(n), overall)
    stds = np.full(len(n), pooled)
    if spread_real:  # relative spread per bin from the successive differences
        gap = np.divide(gaps, pairs, out=np.zeros_like(gaps), where=pairs > 0)
        stds = pooled * _smooth(gap, pairs) / (gaps.sum() / pairs.sum())
        stds = np.where(stds > 0, stds, pooled)
    return PhaseProfile(chosen.period, means + shift, stds, overall + shift, pooled)


def _extends(longer: _Candidate, shorter: _Candidate) -> bool:
    """Is the longer period (a multiple of the shorter, bins aligned) a real refinement?"""
    ratio = longer.period / shorter.period
    bins = len(longer.used)
    if ratio != round(ratio) or bins != ratio * len(shorter.used):
        return longer.p < shorter.p  # not nested: the stronger pattern
    return any(
        test is not None and test.extra_p(len(shorter.used), longer.used) < longer.level
        for test in (longer.mean, longer.spread)
    )


def _smooth(stat: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per-bin statistics with empty bins interpolated around the cycle and sparse ones pulled
    toward their neighbours' average (``SHRINK`` pseudo-values)."""
    bins = np.arange(len(stat))
    seen = n > 0
    filled = np.interp(bins, bins[seen], stat[seen], period=len(stat))
    neighbours = (np.roll(filled, 1) + np.roll(filled, -1)) / 2.0
    return np.asarray((n * filled + SHRINK * neighbours) / (n + SHRINK))
