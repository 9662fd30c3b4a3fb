"""Each concept the Rust series cores share with Python, compared on seeded random inputs.

The cores (``detector._native``, reached here through the series classes that build them, as
the engine does) are the product for feature series. On the Python side stand either another
product, which runs where the per-value work is not in Rust (the window clock and the
lifecycle of the performance series and stream checks, the performance series' rate check), or
a test oracle (:mod:`detector.testing.oracles`: normal scores, window tests, the constant and
range checks). Either way the two must agree exactly (values up to the last bit of a logarithm:
libm's and numpy's can differ there):

- window boundaries: count and event-time windows, ties and gaps in event time, streams cut
  into random batches (:class:`detector.windows.WindowClock`);
- the lifecycle: firing, folding repeats, resolving after ``resolve_windows`` clean windows,
  severities, for the drift alert and each check (:class:`detector.alerts.Lifecycle`);
- the rate checks (missing, type errors, unseen categories, configured bounds) and the constant
  and beyond-the-reference-range checks;
- normal scores, on references with ties, heavy tails, a constant value or few values;
- the window tests: PSI, JS, KS and Wasserstein (numeric), chi-square, PSI and JS (categorical).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from detector._native import normal_scores as native_normal_scores
from detector.alerts import Lifecycle, Severity, Signal
from detector.columns import Categories
from detector.config import DetectionConfig
from detector.detectors import distribution  # not TestResult bare: pytest would collect it
from detector.quality import rate_check
from detector.reference import OTHER, CategoricalReference, NumericReference, inflation_of
from detector.series import CategoricalSeries, NumericSeries, SeriesContext
from detector.series.base import RESOLVE_ALPHA
from detector.testing import oracles
from detector.windows import WindowClock

Results = list[distribution.TestResult]
SHARES = {"a": 0.5, "b": 0.3, "c": 0.2}
START = 1_767_225_600.0
RATES = {"missing_rate", "type_errors", "unseen_categories", "out_of_range"}


def _detection(**settings: Any) -> DetectionConfig:
    """Detection settings as given: the config's lower bounds (window >= 50, 10 values for the
    tests) are skipped, so that short streams hold many small windows."""
    return DetectionConfig.model_construct(**settings)


def _categorical(rng: np.random.Generator, count: int = 400) -> CategoricalReference:
    sample = rng.choice(list(SHARES), count, p=list(SHARES.values())).tolist()
    return CategoricalReference.from_sample([*sample, "rare"], top=10)


def _cuts(rng: np.random.Generator, n: int, most: int) -> list[tuple[int, int]]:
    """``0:n`` cut into batches of 1 to ``most`` events."""
    edges = [0]
    while edges[-1] < n:
        edges.append(min(n, edges[-1] + int(rng.integers(1, most + 1))))
    return list(itertools.pairwise(edges))


def _assert_same(got: Results, expected: Results) -> None:
    assert [r.name for r in got] == [r.name for r in expected]
    for mine, theirs in zip(got, expected, strict=True):
        if mine.name in RATES:  # the same integers and divisions: bit for bit
            assert (mine.value, mine.threshold) == (theirs.value, theirs.threshold), mine.name
        else:
            assert mine.value == pytest.approx(theirs.value, rel=1e-12, abs=1e-15), mine.name
            assert mine.threshold == pytest.approx(theirs.threshold, rel=1e-12), mine.name


def _event_times(rng: np.random.Generator, n: int, timed: bool, lattice: bool) -> np.ndarray:
    """Increasing event times; for time windows also ties (equal times) and silences of several
    windows, and on a lattice of 1/8 s (exact in binary) events land exactly on a boundary."""
    if not timed:
        return START + np.cumsum(rng.uniform(0.001, 0.2, n))
    gaps = rng.integers(0, 4, n) * 0.125 if lattice else rng.exponential(0.1, n)
    gaps[rng.random(n) < 0.15] = 0.0  # ties
    silent = rng.random(n) < 0.01
    gaps[silent] = rng.integers(40, 320, int(silent.sum())) * 0.125  # longer than a window
    return START + np.cumsum(gaps)


@pytest.mark.parametrize("seed", range(8))
def test_window_boundaries(seed: int) -> None:
    """The windows a core closes end at the events where ``WindowClock`` ends them, whatever
    the batches: every window's last event (by its event time, in the core's history)."""
    rng = np.random.default_rng(seed)
    timed = seed % 2 == 1
    size = int(rng.integers(1, 12))
    seconds = float(rng.choice([0.25, 1.0, 2.5])) if timed else None
    n = 4000
    times = _event_times(rng, n, timed, lattice=seed % 4 == 1)
    detection = _detection(window=size, window_seconds=seconds, min_window_values=1)
    context = SeriesContext(detection, 1e-3)
    numeric = seed % 4 < 2
    series: NumericSeries | CategoricalSeries
    if numeric:
        series = NumericSeries(context, NumericReference.from_sample(rng.normal(size=300)))
        values: Any = rng.normal(size=n)
    else:
        series = CategoricalSeries(context, _categorical(rng))
        values = rng.choice(list(SHARES), n).tolist()
    clock = WindowClock(size, seconds)
    expected: list[int] = []
    closed: list[float] = []
    for start, stop in _cuts(rng, n, 60):
        expected += [start + end for end in clock.closes(times[start:stop])]
        batch = values[start:stop] if numeric else Categories.from_values(values[start:stop])
        series.update(batch, np.zeros(stop - start, dtype=bool), times[start:stop])
        closed += [t for t, _ in series.history if not closed or t > closed[-1]]
    # A window's last event: the last of the events at its time (time windows never split ties).
    got = (np.searchsorted(times, closed, side="right") - 1).tolist()
    assert len(expected) > 50
    assert got == expected


def _window_values(rng: np.random.Generator, size: int) -> tuple[list[str | None], np.ndarray]:
    """One categorical window: some type errors, some missing, categories as in the reference,
    shifted, or with unseen ones, in random order."""
    errors = int(rng.choice([0, 0, 0, 1, 2, 6]))
    missing = int(rng.choice([0, 0, 0, 1, 3, 8]))
    shares = [list(SHARES.values()), [0.05, 0.05, 0.9], [0.4, 0.4, 0.2]][rng.integers(0, 3)]
    present = size - errors - missing
    drawn: list[str | None] = list(rng.choice(list(SHARES), present, p=shares))
    unseen = int(rng.choice([0, 0, 0, 1, 4]))
    drawn[:unseen] = ["new"] * min(unseen, present)
    values = [*drawn, *[None] * (errors + missing)]
    flags = np.array([False] * (present + missing) + [True] * errors)
    order = rng.permutation(size)
    return [values[i] for i in order], flags[order]


class CategoricalOracle:
    """A categorical core's window verdicts and lifecycles, from the oracles and the Python
    ``Lifecycle``: the status changes it must emit."""

    KEYS = ("drift", "missing_rate", "type_errors", "unseen_categories")

    def __init__(self, ref: CategoricalReference, config: DetectionConfig, alpha: float) -> None:
        self.ref, self.config, self.alpha = ref, config, alpha
        self.lifecycles = {key: Lifecycle() for key in self.KEYS}

    def verdict(self, values: list[str | None], errors: np.ndarray, alpha: float) -> Results:
        """The window's tests (when it has values enough) then its rate checks, at ``alpha``."""
        ref, events = self.ref, len(values)
        present = [v for v, e in zip(values, errors, strict=True) if v is not None and not e]
        n = len(present)
        counts = np.bincount(ref.encode(present), minlength=len(ref.shares))
        inflation = inflation_of(ref.dependence)
        missing = sum(v is None and not e for v, e in zip(values, errors, strict=True))
        results: Results = []
        if n >= self.config.min_window_values:
            results += oracles.categorical_tests(counts, ref.shares, alpha, ref.count, inflation)
        rates = (ref.events * ref.missing_rate, ref.events * ref.type_error_rate)
        results.append(rate_check("missing_rate", missing, events, rates[0], ref.events, alpha))
        results.append(
            rate_check("type_errors", int(errors.sum()), events, rates[1], ref.events, alpha)
        )
        if n:
            unseen = sum(v not in ref.known for v in present)
            seen = ref.unseen_rate * ref.count
            results.append(rate_check("unseen_categories", unseen, n, seen, ref.count, alpha))
        return results

    def severity(self, values: list[str | None], errors: np.ndarray) -> Severity:
        present = [v for v, e in zip(values, errors, strict=True) if v is not None and not e]
        counts = np.bincount(self.ref.encode(present), minlength=len(self.ref.shares))
        change = 0.5 * float(np.abs(counts / max(len(present), 1) - self.ref.shares).sum())
        return "critical" if change * 5.0 >= self.config.critical_shift else "warning"

    def close(self, values: list[str | None], errors: np.ndarray, when: float) -> list[tuple]:
        """(status, key, detector, severity, started_at, detections) of the window's changes."""
        verdict = self.verdict(values, errors, self.alpha)
        loose = {r.name: r for r in self.verdict(values, errors, RESOLVE_ALPHA)}
        drift = [r for r in verdict if r.name not in RATES]
        out: list[tuple] = []

        def change(status: str, key: str, result: distribution.TestResult) -> None:
            life = self.lifecycles[key]
            row = (status, key, result.name, life.severity, life.started_at, life.detections)
            out.append(row)

        need = self.config.resolve_windows
        fired = [r for r in drift if r.fired]
        life = self.lifecycles["drift"]
        if fired:
            if life.detect(when, self.severity(values, errors)):
                change("firing", "drift", fired[0])
        elif drift and life.window_checked(not any(loose[r.name].fired for r in drift), need):
            change("resolved", "drift", drift[0])
        for result in verdict:
            if result.name not in RATES:
                continue
            life = self.lifecycles[result.name]
            if result.fired:
                severity: Severity = "critical" if result.name == "type_errors" else "warning"
                if life.detect(when, severity):
                    change("firing", result.name, result)
            elif life.window_checked(not loose[result.name].fired, need):
                change("resolved", result.name, result)
        return out


def _changes(signals: list[Signal]) -> list[tuple]:
    return [
        (s.status, s.check or "drift", s.detector, s.severity, s.started_at, s.detections)
        for s in signals
    ]


@pytest.mark.parametrize("seed", range(6))
def test_lifecycles(seed: int) -> None:
    """Every status change of the drift alert and of each check, window after window, and the
    lifecycles between batches, equal those of ``Lifecycle`` driven by the oracle's verdicts:
    firing on a detection (type errors critical, drift critical past ``critical_shift``),
    repeats folded into ``detections``, resolved after ``resolve_windows`` clean windows."""
    rng = np.random.default_rng(100 + seed)
    size = 40
    config = _detection(
        window=size,
        min_window_values=10,
        resolve_windows=int(rng.integers(1, 4)),
        critical_shift=float(rng.choice([0.5, 1.0, 2.0])),
    )
    alpha = float(rng.choice([1e-3, 1e-5]))
    ref = _categorical(rng)
    series = CategoricalSeries(SeriesContext(config, alpha), ref)
    oracle = CategoricalOracle(ref, config, alpha)
    # Runs of calm and troubled windows, so that alerts fire, fold and resolve.
    windows = []
    for _ in range(150):
        calm = rng.random() < 0.5
        values, errors = _window_values(rng, size)
        if calm:
            values = list(rng.choice(list(SHARES), size, p=list(SHARES.values())))
            errors = np.zeros(size, dtype=bool)
        windows.append((values, errors))
    values = [v for w in windows for v in w[0]]
    errors = np.concatenate([w[1] for w in windows])
    times = START + np.arange(len(values), dtype=float)
    expected: list[tuple] = []
    got: list[tuple] = []
    closed = 0
    for start, stop in _cuts(rng, len(values), 3 * size):
        batch = Categories.from_values(values[start:stop])
        got += _changes(series.update(batch, errors[start:stop], times[start:stop]))
        for i in range(closed, stop // size):  # the windows this batch closed
            window, flags = windows[i]
            expected += oracle.close(window, flags, float(times[(i + 1) * size - 1]))
        closed = stop // size
        assert series.lifecycles == oracle.lifecycles
    assert {c[0] for c in expected} == {"firing", "resolved"}
    assert max(c[5] for c in expected) > 1  # repeats were folded
    assert {c[3] for c in expected} == {"critical", "warning"}
    assert got == expected


@pytest.mark.parametrize("seed", range(4))
def test_categorical_window_tests_and_rate_checks(seed: int) -> None:
    """chi-square, PSI, JS and the missing, type-error and unseen-category checks of each
    window: the oracle's tests and ``rate_check``."""
    rng = np.random.default_rng(200 + seed)
    size = int(rng.integers(20, 300))
    config = _detection(window=size, min_window_values=15)
    alpha = float(rng.choice([1e-2, 1e-4, 1e-7]))
    ref = _categorical(rng, int(rng.integers(100, 5000)))
    series = CategoricalSeries(SeriesContext(config, alpha), ref)
    oracle = CategoricalOracle(ref, config, alpha)
    for i in range(40):
        values, errors = _window_values(rng, size)
        times = START + i * size + np.arange(size, dtype=float)
        series.update(Categories.from_values(values), errors, times)
        _assert_same(series.last_window, oracle.verdict(values, errors, alpha))


def _numeric_sample(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    if kind == "ties":
        return rng.integers(0, 6, n).astype(float)
    if kind == "rounded":
        return np.round(rng.standard_t(3, n), 1)
    if kind == "heavy":
        return rng.pareto(1.2, n) * 1e6
    return rng.normal(10.0, 3.0, n)


@pytest.mark.parametrize(
    ("kind", "range_check"),
    [("normal", "beyond"), ("ties", "off"), ("rounded", "bounds"), ("heavy", "beyond")],
)
def test_numeric_window_tests_and_checks(kind: str, range_check: str) -> None:
    """PSI, JS, KS, Wasserstein, the constant check, the rate checks and the range check
    (beyond a large reference's extremes, or outside configured bounds) of each window."""
    rng = np.random.default_rng(len(kind))
    size = int(rng.integers(30, 400))
    config = _detection(window=size, min_window_values=20, warmup=1000)
    alpha = float(rng.choice([1e-2, 1e-4, 1e-7]))
    count = 12_000 if range_check == "beyond" else 3000
    ref = NumericReference.from_sample(_numeric_sample(rng, kind, count), dependence=0.0)
    bounds = (float(ref.quantiles[10]), float(ref.quantiles[190]))
    context = SeriesContext(config, alpha, bounds if range_check == "bounds" else None)
    series = NumericSeries(context, ref)
    learnt = 0  # windows closed after the core raised its dependence
    for i in range(40):
        values = _numeric_sample(rng, kind, size) * rng.choice([1.0, 1.0, 1.3])
        if rng.random() < 0.2:
            values[:] = values[0]  # a constant window
        beyond = rng.random(size) < rng.choice([0.0, 0.01, 0.1])
        values[beyond] = ref.max + 1.0 + rng.random(int(beyond.sum()))
        errors = rng.random(size) < rng.choice([0.0, 0.0, 0.05])
        values[errors | (rng.random(size) < rng.choice([0.0, 0.02, 0.2]))] = np.nan
        times = START + i * size + np.arange(size, dtype=float)
        series.update(values, errors, times)
        # The dependence in effect at the window's close (the core may learn more from the
        # live values): thresholds widen by its inflation, the range check counts at the
        # effective sample size (Rust rounds halves away from zero).
        inflation = inflation_of(series.dependence)
        learnt += series.dependence > 0.0

        def effective(count: int, inflation: float = inflation) -> int:
            return math.floor(count / inflation + 0.5)

        present = values[~np.isnan(values)]
        n = len(present)
        expected: Results = []
        if n >= config.min_window_values:
            counts = np.bincount(
                np.searchsorted(ref.bin_edges, present, side="right"),
                minlength=len(ref.bin_probs),
            )
            expected += oracles.binned_tests(
                counts, ref.bin_probs, ref.bin_edges, ref.std, alpha, ref.count, inflation
            )
            spread = float(present.max() - present.min())
            expected.append(oracles.constant_check(n, spread, ref.mode_share, alpha))
        missing = int((np.isnan(values) & ~errors).sum())
        seen = (ref.events * ref.missing_rate, ref.events * ref.type_error_rate)
        expected.append(rate_check("missing_rate", missing, size, seen[0], ref.events, alpha))
        expected.append(
            rate_check("type_errors", int(errors.sum()), size, seen[1], ref.events, alpha)
        )
        if n and range_check == "beyond":
            above, below = int((present > ref.max).sum()), int((present < ref.min).sum())
            above, below, events = effective(above), effective(below), max(effective(n), 1)
            expected.append(oracles.beyond_range_check(above, below, events, ref.count, alpha))
        elif n and range_check == "bounds":
            outside = int(((present < bounds[0]) | (present > bounds[1])).sum())
            expected.append(rate_check("out_of_range", outside, n, 0.0, ref.count, alpha))
        _assert_same(series.last_window, expected)
    assert learnt < 40  # some windows were judged as independent values


def _references(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    return [
        ("continuous", rng.standard_t(3, 2000)),
        ("ties", rng.integers(0, 6, 1000).astype(float)),
        ("long ties", np.concatenate([np.zeros(900), rng.normal(size=100)])),
        ("rounded", np.round(rng.normal(size=500), 1)),
        ("heavy", rng.pareto(1.0, 3000) * 1e8),
        ("constant", np.full(300, 4.25)),
        ("few", rng.normal(size=int(rng.integers(1, 6)))),
        ("wide", rng.normal(size=1000) * 1e300),
    ]


@pytest.mark.parametrize("seed", range(3))
def test_normal_scores(seed: int) -> None:
    """The core's score of every value is the oracle's, bit for bit: values inside, between,
    on and beyond the quantiles, on references with ties, heavy tails, one value or few."""
    rng = np.random.default_rng(300 + seed)
    context = SeriesContext(_detection(window=100, min_window_values=10, warmup=1000), 1e-3)
    for name, sample in _references(rng):
        with np.errstate(over="ignore"):  # the "wide" reference's variance overflows
            ref = NumericReference.from_sample(sample, dependence=0.0)
        series = NumericSeries(context, ref)
        assert series._core is not None
        live = np.concatenate(
            [
                rng.choice(sample, 500) * (1.0 + rng.normal(0.0, 0.05, 500)),
                rng.normal(float(np.median(sample)), 1.0, 100),
                rng.choice(sample, 200),  # equal to reference values, often to quantiles
                ref.quantiles,
                np.nextafter(ref.quantiles, np.inf),
                np.nextafter(ref.quantiles, -np.inf),
                [ref.min - 1.0, ref.max + 1.0, -np.inf, np.inf, 0.0, -0.0],
            ]
        )
        with np.errstate(invalid="ignore", over="ignore"):
            expected = oracles.normal_scores(ref, live)
        got = series._core.normal_scores(live)
        assert np.array_equal(got, expected), name
        column = native_normal_scores(ref.quantiles, float(ref.count), live)  # the joint test's
        assert np.array_equal(column, expected), name


def test_every_category_is_tracked_in_the_differential_reference() -> None:
    """The categorical tests above compare against a reference of three tracked categories and
    a rare one pooled as other (so the other cell is small but not empty)."""
    ref = _categorical(np.random.default_rng(0))
    assert ref.categories == list(SHARES) and OTHER not in ref.categories
    assert 0 < ref.shares[-1] < 0.01
