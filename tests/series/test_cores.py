"""The Rust series cores compute what the numpy and scipy oracles (``detector.testing.oracles``)
and ``detector.quality.rate_check`` compute."""

from __future__ import annotations

import numpy as np
import pytest

from detector._native import pairwise_sum, update_all
from detector.columns import Categories
from detector.config import parse_config
from detector.detectors import distribution  # not TestResult bare: pytest would collect it
from detector.false_alarms import test_level as level_of  # not test_*: pytest would collect it
from detector.quality import rate_check
from detector.reference import CategoricalReference, NumericReference
from detector.series import CategoricalSeries, NumericSeries, SeriesContext
from detector.testing.oracles import binned_tests, categorical_tests, constant_check, normal_scores
from detector.testing.synthetic import SyntheticStream, config_dict

WARMUP = 200


def _context(**detection: object) -> SeriesContext:
    cfg = config_dict(SyntheticStream(numeric=["x"], categorical={}, segments={}))
    cfg["detection"] = {"warmup": WARMUP, "window": 100, **detection}
    config = parse_config(cfg)
    return SeriesContext(config.detection, level_of(config))


Results = list[distribution.TestResult]


def _assert_same(got: Results, expected: Results) -> None:
    """The same tests in the same order, values and thresholds equal up to float rounding (the
    core's logarithms are libm's, numpy's may be SIMD ones: the last bit can differ)."""
    assert [r.name for r in got] == [r.name for r in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.value == pytest.approx(theirs.value, rel=1e-12, abs=1e-15), mine.name
        assert mine.threshold == pytest.approx(theirs.threshold, rel=1e-12), mine.name


def _feed(series: NumericSeries, values: np.ndarray) -> None:
    times = np.arange(len(values), dtype=float)
    series.update(values, np.zeros(len(values), dtype=bool), times)


@pytest.mark.parametrize("n", [*range(0, 300), 1000, 4096, 10_007])
def test_pairwise_sum_is_numpys(n: int) -> None:
    """Sums (and so means) equal numpy's bit for bit: it sums pairwise in blocks of eight."""
    values = np.random.default_rng(n).lognormal(0, 3, n) * 1e3
    assert pairwise_sum(values) == np.add.reduce(values)


@pytest.mark.parametrize("kind", ["continuous", "ties", "rounded"])
def test_normal_scores_equal_the_reference_transform(kind: str) -> None:
    """Each live value's score is exactly the oracle's ``normal_scores`` of it: ranks,
    interpolation, ties at their mid-rank (runs of any length), clipping and scipy's ndtri."""
    rng = np.random.default_rng(5)

    def draw(n: int) -> np.ndarray:
        if kind == "ties":
            return rng.integers(0, 6, n).astype(float)
        t = rng.standard_t(3, n)
        return np.round(t, 1) if kind == "rounded" else t

    series = NumericSeries(_context())
    warm = draw(WARMUP)
    _feed(series, warm)
    live = np.concatenate([draw(80), [warm.min() - 1, warm.max() + 1, warm[3]]])
    _feed(series, live)
    expected = normal_scores(NumericReference.from_sample(warm), live)
    assert series.reference is not None
    assert np.array_equal(series._core.recent_scores()[-len(live) :], expected)  # type: ignore[union-attr]


def test_window_tests_and_checks_equal_the_python_ones() -> None:
    """A closed window's PSI, JS, KS, Wasserstein, constant and rate checks are those of
    ``binned_tests``, ``constant_check`` and ``rate_check`` on its counts."""
    rng = np.random.default_rng(9)
    context = _context()
    series = NumericSeries(context)
    warm = rng.normal(0, 1, WARMUP)
    _feed(series, warm)
    live = rng.normal(0.4, 1.3, 100)
    live[:7] = np.nan  # missing values
    _feed(series, live)
    ref = series.reference
    counts = series.last_counts
    assert ref is not None and counts is not None and counts.sum() == 93
    expected = binned_tests(counts, ref.bin_probs, ref.bin_edges, ref.std, context.alpha, ref.count)
    values = live[~np.isnan(live)]
    spread = float(values.max() - values.min())
    expected.append(constant_check(93, spread, ref.mode_share, context.alpha))
    expected.append(rate_check("missing_rate", 7, 100, 0.0, WARMUP, context.alpha))
    expected.append(rate_check("type_errors", 0, 100, 0.0, WARMUP, context.alpha))
    _assert_same(series.last_window, expected)


def test_categorical_window_equals_the_python_tests() -> None:
    """A categorical window's chi-square, PSI, JS and checks are the Python functions' values."""
    rng = np.random.default_rng(2)
    context = _context()
    series = CategoricalSeries(context)
    shares = {"a": 0.5, "b": 0.3, "c": 0.2}
    warm = list(rng.choice(list(shares), WARMUP, p=list(shares.values())))
    times = np.arange(WARMUP, dtype=float)
    series.update(Categories.from_values(warm), np.zeros(WARMUP, dtype=bool), times)
    live: list[str | None] = list(rng.choice(["a", "b", "c", "new"], 100, p=[0.2, 0.3, 0.3, 0.2]))
    live[:4] = [None] * 4
    series.update(Categories.from_values(live), np.zeros(100, dtype=bool), times[:100] + WARMUP)
    ref = series.reference
    assert isinstance(ref, CategoricalReference) and series.last_counts is not None
    counts = series.last_counts
    n = int(counts.sum())
    unseen = sum(v == "new" for v in live[4:])
    inflation = (1 + ref.dependence) / (1 - ref.dependence)
    expected = categorical_tests(counts, ref.shares, context.alpha, ref.count, inflation)
    expected.append(rate_check("missing_rate", 4, 100, 0.0, WARMUP, context.alpha))
    expected.append(rate_check("type_errors", 0, 100, 0.0, WARMUP, context.alpha))
    seen = ref.unseen_rate * ref.count
    expected.append(rate_check("unseen_categories", unseen, n, seen, ref.count, context.alpha))
    _assert_same(series.last_window, expected)


def test_totals_sketch_quantiles_within_one_percent() -> None:
    """All values since the reference: exact count, mean and extremes; DDSketch quantiles
    within 1% of the exact ones, with bounded buckets over 600 orders of magnitude."""
    rng = np.random.default_rng(4)
    series = NumericSeries(_context(window=500))
    values = rng.lognormal(3, 1, 30_000)
    _feed(series, values)
    live = values[WARMUP:]
    closed = live[: len(live) // 500 * 500]  # totals grow window by window
    totals = series.totals((0.01, 0.5, 0.99))
    assert totals is not None and totals.count == len(closed)
    assert totals.mean == pytest.approx(closed.mean(), rel=1e-12)
    assert (totals.min, totals.max) == (closed.min(), closed.max())
    exact = float(np.quantile(closed, 0.5, method="lower"))
    assert totals.p50 is not None and abs(totals.p50 - exact) <= 0.011 * exact
    wide = NumericSeries(_context(window=500))
    with np.errstate(over="ignore"):  # the reference's variance overflows: values up to 1e300
        _feed(wide, 10.0 ** rng.uniform(-300, 300, 60_000))
    assert wide._core is not None
    keys = wide._core.to_state()["totals"]["positive_keys"]
    assert len(keys) > 1000 and keys[-1] - keys[0] < 2048  # the highest 2,048 keys are kept
    (high,) = wide._core.totals([0.99])[-1]
    assert high > 1e280  # the upper quantiles keep their accuracy


@pytest.mark.parametrize("batch", [1, 37, 5000])
def test_dependence_learnt_from_live_scores_does_not_depend_on_batching(batch: int) -> None:
    """With a baseline, the dependence of the first live scores recalibrates the detectors at
    the same value whatever the batch sizes, so the signals are the same."""
    rng = np.random.default_rng(6)
    noise = np.zeros(12_000)
    for i in range(1, len(noise)):  # AR(1), phi = 0.6
        noise[i] = 0.6 * noise[i - 1] + 0.8 * rng.normal()
    noise[8000:] += 1.5
    reference = NumericReference.from_sample(rng.normal(0, 1, 20_000))
    runs = []
    for size in (batch, 12_000):
        series = NumericSeries(_context(), reference)
        signals = []
        for start in range(0, len(noise), size):
            part = noise[start : start + size]
            times = np.arange(start, start + len(part), dtype=float)
            found = series.update(part, np.zeros(len(part), dtype=bool), times)
            signals += [(s.series_events, s.detector, s.status) for s in found]
        runs.append((signals, series.dependence))
    assert runs[0] == runs[1]
    assert runs[0][1] > 0.4 and runs[0][0], "learnt the dependence, and detected the shift"


def _forged(state: dict[str, object], key: str, value: object) -> dict[str, object]:
    return {**state, key: value}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("open_counts", np.array([1, 2], dtype=np.int64)),  # not one count per bin
        ("open_values", np.array([np.nan])),  # not finite
        ("clock", (10_000, None)),  # past the window
        ("recent_raw", np.zeros(3)),  # not as long as its scores and times
        ("page_hinkley", (5, [1.5, 0, 0, 0, 0, 0, -1, -1], 50.0)),  # n is not a count
        ("counters", (1, 2)),
        ("lifecycles", {"firing": [True]}),
        ("history_tests", np.array([99], dtype=np.uint8)),  # no such test
        ("adwin", {"delta": 2.0}),
    ],
)
def test_inconsistent_core_state_is_refused(key: str, value: object) -> None:
    """A core's saved state that no core can be in raises ValueError (StateError through the
    codec), never a panic or a half-built core."""
    series = NumericSeries(_context())
    _feed(series, np.random.default_rng(1).normal(size=WARMUP + 150))
    assert series._core is not None
    state = series._core.to_state()
    assert type(series._core).from_state(state).to_state().keys() == state.keys()
    with pytest.raises(ValueError):
        type(series._core).from_state(_forged(state, key, value))


def test_a_core_cannot_be_updated_twice_at_once() -> None:
    """update_all refuses the same core in two jobs (the threads would share its state)."""
    series = NumericSeries(_context())
    _feed(series, np.zeros(WARMUP) + np.arange(WARMUP))
    assert series._core is not None
    arrays = (np.ones(3), np.zeros(3, dtype=bool), np.arange(3.0), None)
    with pytest.raises(RuntimeError, match="borrowed"):
        update_all([(series._core, arrays), (series._core, arrays)], [], 2)


def test_rows_outside_the_batch_are_refused() -> None:
    """A series' rows must index the batch's columns: ValueError, not a crash."""
    series = NumericSeries(_context())
    _feed(series, np.arange(float(WARMUP)))
    assert series._core is not None
    columns = (np.ones(3), np.zeros(3, dtype=bool), np.arange(3.0))
    with pytest.raises(ValueError, match="rows"):
        series._core.update(*columns, np.array([0, 3]))
    assert series._core.update(*columns, np.array([2, 0])) == []
