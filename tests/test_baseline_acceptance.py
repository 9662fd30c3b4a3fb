"""Issue 3 acceptance: a training baseline, then seeded live streams with known changes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson
import pytest

from detector.alerts import AlertEvent
from detector.baseline import Baseline, BaselineBuilder, load_baseline
from detector.config import Config, parse_config
from detector.engine import Engine
from detector.stream_checks import VOLUME_FEATURE
from detector.testing.synthetic import Drift, SyntheticStream, config_dict, event_batches

SEGMENTS = {"country": [f"S{i}" for i in range(10)]}
CATEGORIES = {"mcc": {"a": 0.1, "b": 0.4, "c": 0.3, "d": 0.2}}
CHANGE = 30_000


def small_stream(seed: int) -> SyntheticStream:
    return SyntheticStream(
        numeric=[f"f{i}" for i in range(6)],
        categorical=CATEGORIES,
        segments=SEGMENTS,
        seed=seed,
        missing={"f0": 0.01},
    )


def build(config: Config, stream: SyntheticStream, n: int) -> Baseline:
    builder = BaselineBuilder(config)
    for batch in event_batches(stream, n):
        builder.add_batch(batch)
    return builder.build()


@pytest.fixture(scope="module")
def small() -> tuple[Config, Baseline]:
    config = parse_config(config_dict(small_stream(0)))
    return config, build(config, small_stream(1), 100_000)


def live(
    setup: tuple[Config, Baseline], drifts: Sequence[Drift], n: int = 60_000
) -> list[AlertEvent]:
    config, baseline = setup
    engine = Engine(config, baseline)
    alerts: list[AlertEvent] = []
    for batch in event_batches(small_stream(7), n, drifts, size=2000):
        alerts += engine.process(batch)
    return alerts


def first(
    alerts: list[AlertEvent], feature: str, segment: dict[str, str] | None = None, **data: str
) -> AlertEvent:
    for alert in alerts:
        d = alert.data
        wanted = d.feature == feature and d.status == "firing"
        where = segment is None or d.segment == segment
        if wanted and where and all(getattr(d, k) == v for k, v in data.items()):
            return alert
    raise AssertionError(
        f"no firing alert for {feature} {segment} {data}: {[a.data.summary for a in alerts]}"
    )


def test_stationary_500k_events_775_series_raise_nothing() -> None:
    """25 features (3 categorical) x 30 segments, baseline from one file: no alert in 500k."""
    cats = {f"c{i}": CATEGORIES["mcc"] for i in range(3)}

    def stream(seed: int) -> SyntheticStream:
        return SyntheticStream(
            numeric=[f"f{i}" for i in range(22)],
            categorical=cats,
            segments={"country": [f"S{i}" for i in range(30)]},
            seed=seed,
            missing={"f0": 0.01},
        )

    config = parse_config(config_dict(stream(0)))
    engine = Engine(config, build(config, stream(1), 200_000))
    alerts = []
    for batch in event_batches(stream(2), 500_000, size=5000):
        alerts += engine.process(batch)
    assert len(engine.series) == 25 * 31
    assert [a.data.summary for a in alerts] == []


def test_mean_shift_of_half_a_standard_deviation(small: tuple[Config, Baseline]) -> None:
    """A 0.5 sd shift in all traffic is found within 1,000 events."""
    alert = first(live(small, [Drift("f2", CHANGE, 0.5)]), "f2", {}, kind="drift")
    assert 0 < alert.data.series_events - CHANGE <= 1000


def test_variance_doubling(small: tuple[Config, Baseline]) -> None:
    """Twice the variance, same mean: the window tests fire within two windows."""
    alert = first(live(small, [Drift("f3", CHANGE, 2**0.5, kind="scale")]), "f3", {})
    assert alert.data.detector in {"psi", "js", "ks", "wasserstein"}
    assert 0 < alert.data.series_events - CHANGE <= 1000
    assert alert.data.current.std and alert.data.reference.std
    assert alert.data.current.std > 1.2 * alert.data.reference.std


def test_gradual_ramp(small: tuple[Config, Baseline]) -> None:
    """A ramp to 1 sd over 20k events is caught before the ramp ends."""
    alerts = live(small, [Drift("f1", CHANGE, 1.0, kind="ramp", duration=20_000)])
    alert = first(alerts, "f1", {}, kind="drift")
    assert 0 < alert.data.series_events - CHANGE < 20_000


def test_category_share_10_to_20_percent(small: tuple[Config, Baseline]) -> None:
    """One category going from 10% to 20% fires a drift alert on that feature."""
    drift = Drift("mcc", CHANGE, 0.2, kind="share", category="a")
    alert = first(live(small, [drift]), "mcc", {}, kind="drift")
    assert 0 < alert.data.series_events - CHANGE <= 1000
    assert alert.data.current.shares and alert.data.current.shares["a"] > 0.15


def test_missing_rate_1_to_10_percent(small: tuple[Config, Baseline]) -> None:
    """f0 is missing 1% of the time in training; 10% live fires missing_rate within 1,000."""
    alerts = live(small, [Drift("f0", CHANGE, 0.1, kind="missing")])
    alert = first(alerts, "f0", {}, kind="quality", detector="missing_rate")
    assert alert.data.dedup_key == "synthetic/quality/f0/all/missing_rate"
    assert 0 < alert.data.series_events - CHANGE <= 1000
    assert alert.data.value > alert.data.threshold > 0.01


def test_numeric_field_arriving_as_strings(small: tuple[Config, Baseline]) -> None:
    """A number sent as a JSON string is a type error: critical, within one window."""
    alerts = live(small, [Drift("f4", CHANGE, kind="strings")])
    alert = first(alerts, "f4", {}, detector="type_errors")
    assert alert.data.severity == "critical"
    assert 0 < alert.data.series_events - CHANGE <= 500


def test_field_disappearing(small: tuple[Config, Baseline]) -> None:
    """A field that stops arriving fires missing_rate at 100% within one window."""
    alert = first(live(small, [Drift("f5", CHANGE, 1.0, kind="missing")]), "f5", {})
    assert alert.data.detector == "missing_rate" and alert.data.value == 1.0
    assert 0 < alert.data.series_events - CHANGE <= 500


def test_segment_going_silent(small: tuple[Config, Baseline]) -> None:
    """One segment's events stop: segment_volume names it within two volume windows."""
    drift = Drift("", CHANGE, kind="silence", segment=("country", "S4"))
    alerts = live(small, [drift])
    alert = first(alerts, VOLUME_FEATURE, {"country": "S4"})
    assert alert.data.detector == "segment_volume" and alert.data.severity == "critical"
    assert 0 < alert.data.series_events - CHANGE <= 10_000 * 0.9 + 1000
    assert not [a for a in alerts if a.data.kind == "drift"]


def test_segment_local_variance_change_names_the_segment(small: tuple[Config, Baseline]) -> None:
    """A change confined to one segment is reported for that segment."""
    drift = Drift("f2", CHANGE, 3.0, kind="scale", segment=("country", "S7"))
    alerts = live(small, [drift])
    first(alerts, "f2", {"country": "S7"}, kind="drift")
    assert {tuple(a.data.segment.items()) for a in alerts if a.data.segment} == {
        (("country", "S7"),)
    }


def test_baseline_file_round_trip_and_cli(tmp_path: Path) -> None:
    """`drift-detector baseline` reads CSV through the config's paths; the file loads back."""
    from detector.cli import main

    stream = small_stream(3)
    rows = ["segment.country,features.f0,features.mcc"]
    for event in stream.events(3000):
        f0 = event["features"].get("f0", "")
        rows.append(f"{event['segment']['country']},{f0},{event['features']['mcc']}")
    data = tmp_path / "train.csv"
    data.write_text("\n".join(rows) + "\n")
    config_file = tmp_path / "c.yaml"
    cfg = config_dict(stream)
    cfg["features"] = [f for f in cfg["features"] if f["name"] in {"f0", "mcc"}]
    cfg["event"] = {}
    cfg["baseline"] = "base.json"
    config_file.write_bytes(orjson.dumps(cfg))  # JSON is YAML
    assert (
        main(
            [
                "baseline",
                "--config",
                str(config_file),
                "--input",
                str(data),
                "--out",
                str(tmp_path / "base.json"),
            ]
        )
        == 0
    )
    from detector.config import load_config

    config = load_config(config_file)
    assert config.baseline == str(tmp_path / "base.json")  # relative to the config file
    baseline = load_baseline(config.baseline, config)
    assert baseline.events == 3000
    f0 = baseline.references[("f0", None, None)]
    assert f0.count + round(f0.missing_rate * f0.events) == 3000
    assert ("mcc", "country", "S3") in baseline.references
    assert "features.f0" in baseline.fields


def test_feature_turning_constant_is_critical(small: tuple[Config, Baseline]) -> None:
    """A continuous feature stuck at one value fails the constant check (critical)."""
    config, baseline = small
    engine = Engine(config, baseline)
    alerts = []
    start = float(small_stream(7).columns(1)["time"][0])
    for batch in event_batches(small_stream(7), 40_000, size=2000):
        if batch.times[0] >= start + 200:  # from event 20,000 on (100 events/s)
            batch.numeric["f1"] = np.full(batch.size, 7.25)
        alerts += engine.process(batch)
    alert = first(alerts, "f1", {}, detector="constant")
    assert alert.data.severity == "critical" and alert.data.current.std == 0.0


def test_time_windows_close_on_event_time(small: tuple[Config, Baseline]) -> None:
    """With window_seconds, windows close by event time and still catch a variance change."""
    config, baseline = small
    timed = config.model_copy(
        update={"detection": config.detection.model_copy(update={"window_seconds": 5.0})}
    )
    engine = Engine(timed, baseline)
    alerts = []
    drift = Drift("f3", CHANGE, 2**0.5, kind="scale")
    for batch in event_batches(small_stream(7), 60_000, [drift], size=2000):
        alerts += engine.process(batch)
    alert = first(alerts, "f3", {}, kind="drift")
    window = alert.data.window
    assert window.count == 500  # 5 s of events at 100 events/s
    assert 0 < alert.data.series_events - CHANGE <= 1000


def test_new_field_in_the_events_is_a_schema_alert() -> None:
    """A field that appears after the warm-up fires `schema` once, naming the field."""
    from detector.replay import replay

    stream = small_stream(8)
    config = parse_config(config_dict(stream))
    lines = []
    for i, event in enumerate(stream.events(5000)):
        if i >= 3000:
            event["features"]["new_flag"] = True
        lines.append(orjson.dumps(event))
    alerts: list[AlertEvent] = []
    replay(config, lines, alerts.append)
    schema = [a for a in alerts if a.data.detector == "schema"]
    assert [a.data.feature for a in schema] == ["features.new_flag"]
    assert schema[0].data.dedup_key == "synthetic/quality/features.new_flag/all/schema"
    assert 3000 < schema[0].data.series_events <= 3000 + 64


@pytest.mark.parametrize("with_baseline", [False, True])
def test_autocorrelated_stream_is_calibrated(with_baseline: bool) -> None:
    """AR(1) phi = 0.5 noise (which pages constantly uncorrected): silent until a real shift.

    With a baseline from independent (shuffled) training rows, the dependence is learnt from
    the first live values instead (the warm-up, then the first 20 windows).
    """

    def stream(seed: int, ar: float) -> SyntheticStream:
        return SyntheticStream(
            numeric=[f"f{i}" for i in range(5)], categorical={}, segments={}, seed=seed, ar=ar
        )

    config = parse_config(config_dict(stream(0, 0.5)))
    baseline = build(config, stream(12, 0.0), 100_000) if with_baseline else None
    engine = Engine(config, baseline)
    alerts: list[AlertEvent] = []
    for batch in event_batches(stream(11, 0.5), 250_000, [Drift("f1", 200_000, 1.0)], 5000):
        alerts += engine.process(batch)
    # The factor at the window's scale is 3; its estimates from a warm-up and 20 windows
    # carry about a third of that as noise.
    phi = engine.series[("f3", None, None)].dependence
    assert 2.0 < (1 + phi) / (1 - phi) < 5.0
    assert [a.data.feature for a in alerts if a.data.series_events < 200_000] == []
    alert = first(alerts, "f1", {}, kind="drift")
    assert 0 < alert.data.series_events - 200_000 <= 2000
