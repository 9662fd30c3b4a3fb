"""Issue 15, seasonality: phase-aware references for numeric features with a daily or weekly
cycle in event time (detector.seasonal, the baseline and the numeric series)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import orjson
import pytest
from scipy.signal import lfilter

from detector.alerts import AlertEvent
from detector.baseline import Baseline, BaselineBuilder, build_baseline, load_baseline
from detector.config import Config, parse_config
from detector.engine import Engine
from detector.errors import ConfigError
from detector.reference import NumericReference
from detector.seasonal import DAY, PhaseAccumulator, PhaseProfile
from detector.state import decode_state, encode_state
from detector.testing.dependent import DependentStream, Stretch
from detector.testing.synthetic import START_TIME

EVENTS_PER_DAY = 50_000


def series(
    seed: int, days: float, n: int, phi: float = 0.0, amplitude: float = 0.0, noise: str = "normal"
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` values over ``days`` days from a random start: unit-variance noise (AR(1) ``phi``,
    or Student-t with 3 degrees of freedom) plus a daily sine of ``amplitude`` sd."""
    rng = np.random.default_rng(seed)
    e = rng.standard_t(3, n) / np.sqrt(3.0) if noise == "t3" else rng.standard_normal(n)
    if phi:
        e = lfilter([np.sqrt(1 - phi**2)], [1.0, -phi], e, zi=[0.0])[0]
    times = START_TIME + rng.uniform(0, DAY) + np.arange(n) * (days * DAY / n)
    return 10 + e + amplitude * np.sin(2 * np.pi * times / DAY), times


def fitted(values: np.ndarray, times: np.ndarray) -> PhaseProfile | None:
    phases = PhaseAccumulator([DAY, 7 * DAY])
    for start in range(0, len(values), 5000):
        phases.add(values[start : start + 5000], times[start : start + 5000])
    return phases.fit()


def test_fit_finds_a_daily_cycle_from_two_days() -> None:
    """AR(1) 0.5 with a 0.25 sd daily sine over 2.2 days: a daily profile that follows the sine."""
    values, times = series(1, 2.2, 100_000, phi=0.5, amplitude=0.25)
    profile = fitted(values, times)
    assert profile is not None and profile.name == "daily" and profile.bins == 24
    centres = (np.arange(24) + 0.5) * 3600.0
    assert np.corrcoef(profile.means, np.sin(2 * np.pi * centres / DAY))[0, 1] > 0.95
    assert profile.std == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    "kind",
    ["iid", "ar1_0.9", "ar1_0.99", "student_t3", "short_span"],
)
def test_fit_returns_none_without_a_repeating_cycle(kind: str) -> None:
    """i.i.d. and heavy-tailed noise, AR(1) noise with phi 0.9 or 0.99 (slow wandering, no
    cycle) over 2.5 days, and a real cycle seen for only 1.8 days: never a profile (5 seeds)."""
    for seed in range(5):
        if kind == "short_span":
            values, times = series(seed, 1.8, 100_000, phi=0.5, amplitude=0.5)
        elif kind.startswith("ar1"):
            values, times = series(seed, 2.5, 100_000, phi=float(kind[4:]))
        else:
            values, times = series(seed, 2.5, 100_000, noise="t3" if kind == "student_t3" else "")
        assert fitted(values, times) is None, seed


def test_weekly_is_chosen_only_when_the_days_of_the_week_differ() -> None:
    """Fifteen days of a daily cycle fit as daily; add 0.3 sd on weekends and it is weekly."""
    values, times = series(3, 15, 300_000, phi=0.5, amplitude=0.25)
    daily = fitted(values, times)
    assert daily is not None and daily.name == "daily"
    weekend = ((times // DAY + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    weekly = fitted(values + 0.3 * weekend, times)
    assert weekly is not None and weekly.name == "weekly" and weekly.bins == 168


def test_adjusted_values_of_a_repeating_cycle_are_stationary() -> None:
    """Fitted on two days, the third day's adjusted hourly means scatter around the overall
    mean as noise does (rms under 0.08 sd; AR(1) noise alone gives about 0.04), where the raw
    ones swing with the cycle (rms 0.35 sd)."""
    values, times = series(4, 3, 150_000, phi=0.5, amplitude=0.5)
    train = times < times[0] + 2 * DAY
    profile = fitted(values[train], times[train])
    assert profile is not None
    hours = ((times[~train] - times[~train][0]) // 3600).astype(int)
    raw = np.bincount(hours, values[~train]) / np.bincount(hours)
    adjusted = profile.adjust(values[~train], times[~train])
    hourly = np.bincount(hours, adjusted) / np.bincount(hours)
    assert np.sqrt(np.mean((raw - raw.mean()) ** 2)) > 0.3
    assert np.sqrt(np.mean((hourly - profile.mean) ** 2)) < 0.08
    assert np.isnan(profile.adjust(np.array([np.nan, 10.0]), times[:2])[0])


# Engine level: a baseline built as `drift-detector baseline` builds it, then live events.


def shuffled(stretch: Stretch) -> Stretch:
    """The training rows in a random order (as training data often is)."""
    order = np.random.default_rng(99).permutation(len(stretch))
    return dataclasses.replace(
        stretch,
        times=stretch.times[order],
        regions=stretch.regions[order],
        numeric={name: v[order] for name, v in stretch.numeric.items()},
        missing={name: v[order] for name, v in stretch.missing.items()},
        score=stretch.score[order],
    )


def seasonal(
    period: str = "auto", shuffle: bool = False
) -> tuple[Config, Baseline, DependentStream]:
    """AR(1) 0.5 plus a 0.5 sd daily sine (features x, y; four regions), baseline over 2 days."""
    stream = DependentStream("ar1_cycle", seed=0, events_per_period=EVENTS_PER_DAY, amplitude=0.5)
    data = stream.config()
    data["detection"] = {"season": {"period": period}}
    config = parse_config(data)
    builder = BaselineBuilder(config)
    training = stream.training(2)
    for batch in (shuffled(training) if shuffle else training).batches(5000):
        builder.add_batch(batch)
    return config, builder.build(), stream


def replay(
    setup: tuple[Config, Baseline, DependentStream], n: int, shift_at: int | None = None
) -> list[AlertEvent]:
    """Firing alerts over ``n`` live events, ``x`` shifted by 1 sd from event ``shift_at``."""
    config, baseline, stream = setup
    live = stream.live(n)
    if shift_at is not None:
        live.numeric["x"][shift_at:] += 1.0
    engine = Engine(config, baseline)
    alerts = [alert for batch in live.batches(5000) for alert in engine.process(batch)]
    return [alert for alert in alerts if alert.data.status == "firing"]


@pytest.fixture(scope="module")
def daily() -> tuple[Config, Baseline, DependentStream]:
    return seasonal()


def test_seasonal_stream_against_its_baseline_is_quiet(
    daily: tuple[Config, Baseline, DependentStream],
) -> None:
    """Every series of the 0.5 sd daily cycle is fitted; 150k live events (three days, ten
    series) raise no alert."""
    _, baseline, _ = daily
    assert {r.season.name for r in baseline.references.values() if r.season} == {"daily"}
    assert all(isinstance(r, NumericReference) and r.season for r in baseline.references.values())
    assert [a.data.summary for a in replay(daily, 150_000)] == []


def test_a_shift_in_a_seasonal_feature_is_still_found(
    daily: tuple[Config, Baseline, DependentStream],
) -> None:
    """A 1 sd shift of x, mid-cycle, fires on x in all traffic within 1,000 of its events,
    and the headline says the values are seasonally adjusted."""
    change = 60_000
    alerts = [a for a in replay(daily, 100_000, change) if a.data.segment == {}]
    assert alerts and {a.data.feature for a in alerts} == {"x"}
    assert 0 < alerts[0].data.series_events - change <= 1000
    assert "(adjusted for the daily cycle)" in alerts[0].data.summary


def test_without_the_adjustment_the_cycle_pages() -> None:
    """From shuffled training rows the file order shows no dependence to absorb the cycle:
    with season off the same stationary stream pages; with the default it stays quiet."""
    assert len(replay(seasonal("off", shuffle=True), 150_000)) >= 10
    assert replay(seasonal("auto", shuffle=True), 150_000) == []


def test_restored_series_keep_their_profile(
    daily: tuple[Config, Baseline, DependentStream], tmp_path: Path
) -> None:
    """A snapshot names the baseline's reference: restored into a new worker (baseline read back
    from its file) a series still adjusts, and the alerts after the restore are identical."""
    config, baseline, stream = daily
    path = tmp_path / "baseline.json"
    path.write_bytes(baseline.to_json())
    live = stream.live(40_000)
    live.numeric["x"][30_000:] += 1.0
    batches = list(live.batches(5000))
    engine, expected = Engine(config, baseline), []
    for batch in batches:
        expected.append([a.data.summary for a in engine.process(batch)])
    assert any(expected[6:])
    first = Engine(config, baseline)
    for batch in batches[:3]:
        first.process(batch)
    second = Engine(config, load_baseline(path, config))
    mine, theirs = first.units.shared_state(), second.units.shared_state()
    for key in first.units.unit_keys():
        second.units.install(key, decode_state(encode_state(first.units.unit(key), mine), theirs))
    key = ("x", None, None)
    assert second.series[key].reference.season is not None
    after = [[a.data.summary for a in second.process(batch)] for batch in batches[3:]]
    assert after == expected[3:]


def test_baseline_file_round_trip(tmp_path: Path) -> None:
    """Built from JSON lines through build_baseline (the CLI's path): a seasonal file is version
    2 and loads back with the same profiles; without a cycle it stays version 1."""
    stream = DependentStream("ar1_cycle", seed=2, events_per_period=5000, amplitude=0.5)
    data = stream.config()
    config = parse_config(data)
    built = build_baseline(config, stream.training(2.2).lines())
    path = tmp_path / "seasonal.json"
    path.write_bytes(built.to_json())
    assert orjson.loads(path.read_bytes())["version"] == 2
    loaded = load_baseline(path, config)
    assert built.references[("x", None, None)].season is not None
    for key, reference in built.references.items():
        again = loaded.references[key]
        assert isinstance(reference, NumericReference) and isinstance(again, NumericReference)
        assert reference.to_dict() == again.to_dict()
        np.testing.assert_array_equal(reference.quantiles, again.quantiles)

    flat = parse_config({**data, "detection": {"season": {"period": "off"}}})
    plain = build_baseline(flat, stream.training(2.2).lines())
    path.write_bytes(plain.to_json())
    document = orjson.loads(path.read_bytes())
    assert document["version"] == 1
    assert all("season" not in entry["reference"] for entry in document["series"])
    assert load_baseline(path, config).references.keys() == plain.references.keys()


def test_a_broken_profile_in_a_baseline_file_is_refused(tmp_path: Path) -> None:
    """A profile with a non-positive std is a config error naming the feature."""
    stream = DependentStream("ar1_cycle", seed=2, events_per_period=5000, amplitude=0.5)
    config = parse_config(stream.config())
    document = orjson.loads(build_baseline(config, stream.training(2.2).lines()).to_json())
    document["series"][0]["reference"]["season"]["stds"][3] = 0.0
    path = tmp_path / "broken.json"
    path.write_bytes(orjson.dumps(document))
    with pytest.raises(ConfigError, match=r"baseline: x in .*stds positive"):
        load_baseline(path, config)


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("hourly", "detection.season.period: .*'hourly': use auto, off, daily, weekly"),
        (10, "detection.season.period: .*a period is 60 s to 366 days"),
        (True, "detection.season.period: .*use auto, off, daily, weekly"),
        ([86400], "detection.season.period: .*use auto, off, daily, weekly"),
    ],
)
def test_bad_season_periods_fail_naming_the_field(period: object, message: str) -> None:
    """Unknown names, periods under a minute and non-numbers are config errors."""
    data = DependentStream("iid").config()
    data["detection"] = {"season": {"period": period}}
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_season_settings_that_parse() -> None:
    """auto is the default; YAML's bare ``off`` (false) means off; seconds are kept; a named
    period without event.time is an error (cycles are read from event time)."""
    data = DependentStream("iid").config()
    assert parse_config(data).detection.season.period == "auto"
    for given, read in [(False, "off"), ("weekly", "weekly"), (3600, 3600.0)]:
        data["detection"] = {"season": {"period": given}}
        assert parse_config(data).detection.season.period == read
    data["event"] = {"id": "event_id"}
    data["detection"] = {"season": {"period": "daily"}}
    with pytest.raises(ConfigError, match=r"detection\.season\.period needs event\.time"):
        parse_config(data)
    data["detection"] = {}
    assert parse_config(data).detection.season.period == "auto"


def test_bounds_on_adjusted_values_take_the_most_lenient_phase() -> None:
    """A raw bound maps to each phase's adjusted bound; the widest is kept."""
    profile = PhaseProfile(DAY, np.array([9.0, 11.0]), np.array([1.0, 2.0]), 10.0, 1.0)
    low, high = profile.bounds(0.0, 20.0)
    assert (low, high) == (1.0, 21.0)  # 10 + (0 - 9) / 1 and 10 + (20 - 9) / 1


def test_a_quiet_segment_takes_the_period_its_feature_showed() -> None:
    """At 20k events a day, latam (10% of traffic) cannot prove a 0.25 sd cycle within two days
    on its own; all traffic has shown it, so latam is held to the looser level and fitted too,
    and 100k live events against the shuffled training file stay quiet."""
    stream = DependentStream("ar1_cycle", seed=0, events_per_period=20_000, amplitude=0.25)
    config = parse_config(stream.config())
    builder = BaselineBuilder(config)
    for batch in shuffled(stream.training(2)).batches(5000):
        builder.add_batch(batch)
    phase = builder._numeric[("x", "region", "latam")].phase
    assert phase is not None and phase.fit() is None
    baseline = builder.build()
    assert all(isinstance(r, NumericReference) and r.season for r in baseline.references.values())
    assert replay((config, baseline, stream), 100_000) == []
