"""Detection acceptance on seeded synthetic streams with known change points."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from jsonschema import Draft202012Validator

from detector.alerts import AlertEvent
from detector.config import Config, parse_config
from detector.replay import replay
from detector.segments import OTHER_SEGMENT
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[1] / "detector" / "schemas" / "alert.v1.schema.json"
    ).read_text()
)
COUNTRIES = [f"C{i}" for i in range(10)]
CATEGORIES = {"mcc": {"a": 0.1, "b": 0.4, "c": 0.3, "d": 0.2}}


def stream(**kwargs: Any) -> SyntheticStream:
    params: dict[str, Any] = {
        "numeric": [f"f{i}" for i in range(5)],
        "categorical": CATEGORIES,
        "segments": {"country": COUNTRIES},
    }
    params.update(kwargs)
    return SyntheticStream(**params)


def run(
    source: SyntheticStream,
    n: int,
    drifts: Sequence[Drift] = (),
    config: Config | None = None,
    batch_size: int = 2000,
) -> list[AlertEvent]:
    data = config_dict(source)
    data["run"] = {"batch_size": batch_size}
    config = config or parse_config(data)
    lines = (orjson.dumps(e) for e in source.events(n, drifts))
    alerts: list[AlertEvent] = []
    replay(config, lines, alerts.append)
    validator = Draft202012Validator(SCHEMA)
    for alert in alerts:
        validator.validate(alert.model_dump(mode="json"))
    return alerts


def firing(alerts: list[AlertEvent]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (a.data.feature, tuple(sorted(a.data.segment.items())))
        for a in alerts
        if a.data.status == "firing"
    }


@pytest.mark.parametrize(
    ("scale", "noise"),
    [(0.001, "normal"), (1.0, "normal"), (1000.0, "normal"), (1.0, "student_t3")],
)
def test_stationary_stream_raises_no_alert(scale: float, noise: str) -> None:
    """200k stationary events, 66 series, any scale or heavy tails: zero alerts by default."""
    alerts = run(stream(scale=scale, noise=noise, seed=int(scale * 7) + len(noise)), 200_000)
    assert [a.data.summary for a in alerts] == []


def segment_events_before(source: SyntheticStream, n: int, country: str, start: int) -> int:
    return int((source.columns(n)["segment.country"][:start] == country).sum())


def test_segment_only_shift_names_feature_and_segment() -> None:
    """A 1 sd shift in one feature for 10% of traffic alerts that series within 2,000 events."""
    source = stream(seed=21)
    drift = Drift(feature="f2", start=100_000, shift=1.0, segment=("country", "C3"))
    alerts = run(source, 200_000, [drift])
    hits = [a for a in alerts if a.data.feature == "f2" and a.data.segment == {"country": "C3"}]
    assert hits and hits[0].data.status == "firing"
    before = segment_events_before(source, 200_000, "C3", 100_000)
    assert 0 < hits[0].data.series_events - before <= 2000
    assert hits[0].data.current.mean is not None and hits[0].data.reference.mean is not None
    assert hits[0].data.current.mean > hits[0].data.reference.mean
    assert {f for f, _ in firing(alerts)} == {"f2"}  # no other feature alerts
    assert not any(seg and seg != (("country", "C3"),) for _, seg in firing(alerts))


def test_all_traffic_shift_alerts_the_all_traffic_series() -> None:
    """A 1 sd shift everywhere alerts the all-traffic series (segment {})."""
    alerts = run(stream(seed=5), 60_000, [Drift(feature="f0", start=30_000, shift=-1.0)])
    assert firing(alerts) >= {("f0", ())} | {("f0", (("country", c),)) for c in COUNTRIES}
    overall = [a for a in alerts if a.data.feature == "f0" and a.data.segment == {}]
    assert overall and overall[0].data.status == "firing"
    assert 0 < overall[0].data.series_events - 30_000 <= 2000
    assert "drifted in all traffic" in overall[0].data.summary
    current, reference = overall[0].data.current, overall[0].data.reference
    assert current.mean is not None and reference.mean is not None and reference.std
    assert -1.4 < (current.mean - reference.mean) / reference.std < -0.6


def test_severity_follows_the_size_of_the_shift() -> None:
    """A 2 sd shift is critical; a 0.5 sd shift is a warning."""
    source = stream(seed=15, numeric=["f0", "f1"], categorical={}, segments={"c": ["A"]})
    drifts = [Drift("f0", start=20_000, shift=2.0), Drift("f1", start=20_000, shift=0.5)]
    alerts = run(source, 40_000, drifts)
    severity = {a.data.feature: a.data.severity for a in alerts if a.data.segment == {}}
    assert severity == {"f0": "critical", "f1": "warning"}


def test_categorical_share_shift_is_detected() -> None:
    """One category going from 10% to 30% of traffic fires a chi-square alert."""
    drift = Drift(feature="mcc", start=30_000, shift=0.3, kind="share", category="a")
    alerts = run(stream(seed=6), 60_000, [drift])
    overall = [a for a in alerts if a.data.feature == "mcc" and a.data.segment == {}]
    assert overall and overall[0].data.detector == "chi_square"
    assert 0 < overall[0].data.series_events - 30_000 <= 1000
    shares = overall[0].data.current.shares
    assert shares is not None and shares["a"] > 0.2
    assert overall[0].data.value > overall[0].data.threshold


def test_batching_does_not_change_alerts() -> None:
    """Same events cut into different micro-batches give byte-identical alerts."""
    source = stream(seed=8)
    drifts = [Drift(feature="f1", start=20_000, shift=1.0, segment=("country", "C1"))]
    small = run(source, 40_000, drifts, batch_size=137)
    large = run(source, 40_000, drifts, batch_size=10_000)
    assert small  # a drift was injected, so equality is not vacuous
    assert [a.model_dump() for a in small] == [a.model_dump() for a in large]


def test_threads_do_not_change_alerts() -> None:
    """Series updated on one thread or on four (the cores run in parallel without the GIL)
    give byte-identical alerts."""
    source = stream(seed=8)
    drifts = [
        Drift("f1", 20_000, 1.0, ("country", "C1")),
        Drift("mcc", 25_000, 0.3, kind="share", category="a"),
    ]
    alerts = []
    for threads in (1, 4):
        data = config_dict(source)
        data["run"] = {"batch_size": 5000, "threads": threads}
        alerts.append(run(source, 40_000, drifts, parse_config(data)))
    assert len(alerts[0]) >= 2
    assert [a.model_dump() for a in alerts[0]] == [a.model_dump() for a in alerts[1]]


def test_shift_that_reverts_resolves_with_the_same_dedup_key() -> None:
    """A shift that goes away resolves its alert; the resolution keeps key and start time."""
    source = stream(seed=9, numeric=["f0"], categorical={}, segments={"country": ["A"]})
    values = source.columns(60_000)
    assert len(values["f0"]) == 60_000
    drifts = [Drift(feature="f0", start=20_000, shift=2.0), Drift("f0", start=30_000, shift=-2.0)]
    alerts = [a for a in run(source, 60_000, drifts) if a.data.segment == {}]
    assert [a.data.status for a in alerts] == ["firing", "resolved"]
    fired, resolved = alerts
    assert fired.data.dedup_key == resolved.data.dedup_key == "synthetic/drift/f0/all"
    assert resolved.data.started_at == fired.data.started_at
    assert resolved.data.series_events > 30_000
    assert fired.id != resolved.id


def test_segment_values_beyond_the_cap_share_other() -> None:
    """Only max_values values of a dimension get their own series; the rest pool as __other__."""
    source = stream(seed=10, numeric=["f0"], categorical={})
    data = config_dict(source)
    data["segments"][0]["max_values"] = 3
    config = parse_config(data)
    lines = [orjson.dumps(e) for e in source.events(5000)]
    from detector.engine import Engine
    from detector.events import Decoder

    engine = Engine(config)
    engine.process(Decoder(config).decode(lines, [0.0] * len(lines)).batch)
    values = {key[2] for key in engine.series if key[1] == "country"}
    assert len(values) == 4 and OTHER_SEGMENT in values


@pytest.mark.parametrize("listed", [True, False])
def test_listed_segment_values_route_alike_whatever_came_first(listed: bool) -> None:
    """With ``values`` listed, two workers seeing the same events in other orders keep the same
    series with the same counts; first come first served (the default) does not."""
    source = stream(seed=10, numeric=["f0"], categorical={})
    data = config_dict(source)
    data["segments"][0]["max_values"] = 3
    if listed:
        data["segments"][0]["values"] = ["C7", "C2", "C5"]
    config = parse_config(data)
    lines = [orjson.dumps(e) for e in source.events(5000)]
    from detector.engine import Engine
    from detector.events import Decoder

    counts = []
    for order in (lines, lines[::-1]):
        engine = Engine(config)
        engine.process(Decoder(config).decode(order, [0.0] * len(order)).batch)
        counts.append({k: s.events for k, s in engine.series.items() if k[1] == "country"})
    assert (counts[0] == counts[1]) is listed
    if listed:
        assert {k[2] for k in counts[0]} == {"C7", "C2", "C5", OTHER_SEGMENT}


def test_missing_and_mistyped_values_are_counted_per_series() -> None:
    """Missing values and type errors are counted and do not reach the detectors."""
    source = stream(seed=12, numeric=["f0"], categorical={}, segments={"country": ["A"]})
    events = list(source.events(3000))
    for i, event in enumerate(events):
        if i % 10 == 0:
            del event["features"]["f0"]
        elif i % 10 == 1:
            event["features"]["f0"] = "n/a"
    config = parse_config(config_dict(source))
    from detector.engine import Engine
    from detector.events import Decoder

    engine = Engine(config)
    lines = [orjson.dumps(e) for e in events]
    assert engine.process(Decoder(config).decode(lines, [0.0] * 3000).batch) == []
    counts = {key: (n, missing, errors) for key, n, missing, errors in engine.units.counters()}
    assert counts[("f0", None, None)] == (3000, 300, 300)
    assert counts[("f0", "country", "A")] == (3000, 300, 300)
    assert np.isfinite(engine.stats.events)
