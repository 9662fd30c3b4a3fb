"""The joint (multivariate) test: correlations that move while every marginal stays put."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from detector.api import Monitor
from detector.baseline import load_baseline
from detector.config import parse_config
from detector.errors import ConfigError
from detector.joint import FEATURE
from detector.multivariate import JointReference
from detector.replay import replay
from detector.testing.joint import FEATURES, CorrelationChange, JointStream

WINDOW = 500


def joint_config(**joint: Any) -> dict[str, Any]:
    """The joint stream's four features (no prediction: every marginal stays put under a
    correlation change), the joint test on."""
    cfg = JointStream().config()
    for key in ("label", "prediction"):
        cfg.pop(key)
    cfg["detection"] = {"window": WINDOW, "joint": {"enabled": True, **joint}}
    return cfg


def joint_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a["data"] for a in alerts if a["data"]["feature"] == FEATURE]


def ar_events(n: int, phi: float, seed: int = 0) -> list[dict[str, Any]]:
    """The joint stream's features and countries, each copula value an AR(1) series."""
    rng = np.random.default_rng(seed)
    cov = np.eye(4)
    cov[0, 1] = cov[1, 0] = 0.6
    noise = rng.standard_normal((n, 4)) @ np.linalg.cholesky(cov).T
    z = np.empty_like(noise)
    z[0] = noise[0]
    for t in range(1, n):
        z[t] = phi * z[t - 1] + np.sqrt(1 - phi * phi) * noise[t]
    country = np.asarray(["DE", "FR", "US"])[rng.integers(3, size=n)]
    return [
        {
            "event_id": f"e-{i}",
            "ts": 1.7e9 + i / 100,
            "segment": {"country": str(country[i])},
            "features": {f: float(z[i, j]) * 10 + j for j, f in enumerate(FEATURES)},
        }
        for i in range(n)
    ]


def test_correlation_only_change_is_found_within_a_window_and_no_marginal_moves() -> None:
    """amount~latency 0.6 -> 0.0 at 20,000: the joint alert fires at the first window past the
    change and names that pair first; no per-feature test sees anything."""
    stream = JointStream(seed=11)
    events = stream.events(40_000, [CorrelationChange(20_000, ("amount", "latency"), 0.0)])
    alerts = Monitor(joint_config()).process(events)
    firing = [a for a in joint_alerts(alerts) if a["segment"] == {}]
    assert [a["status"] for a in firing] == ["firing"]
    assert 20_000 < firing[0]["series_events"] <= 20_000 + 2 * WINDOW
    moved = firing[0]["current"]["correlations"]
    assert next(iter(moved)) == "amount~latency"
    assert abs(firing[0]["reference"]["correlations"]["amount~latency"] - 0.6) < 0.05
    assert abs(moved["amount~latency"]) < 0.15
    assert firing[0]["kind"] == "drift" and firing[0]["detector"] == "correlation"
    assert [a for a in alerts if a["data"]["feature"] != FEATURE] == []


def test_a_change_inside_one_segment_alerts_that_segment_only() -> None:
    """The correlation changes in country=DE only: DE's joint unit fires; FR's and US' stay
    quiet."""
    stream = JointStream(seed=12)
    change = CorrelationChange(20_000, ("amount", "latency"), -0.3, ("country", "DE"))
    alerts = Monitor(joint_config()).process(stream.events(50_000, [change]))
    segments = {tuple(a["segment"].items()) for a in joint_alerts(alerts)}
    assert (("country", "DE"),) in segments
    assert not segments & {(("country", "FR"),), (("country", "US"),)}


@pytest.mark.parametrize("phi", [0.0, 0.9])
def test_stationary_correlated_data_stays_quiet(phi: float) -> None:
    """200,000 stationary events (800 tested windows over all traffic and the three
    segments), independent or AR(1) 0.9 in time: no joint alert; the dependent stream's
    measured inflation is what widens the test."""
    events = ar_events(200_000, phi, seed=3) if phi else JointStream(seed=13).events(200_000)
    monitor = Monitor(joint_config())
    assert joint_alerts(monitor.process(events)) == []
    unit = monitor.engine.units.joint[("#joint", None, None)]
    assert unit.reference is not None
    inflation = float(unit.reference.inflation[0, 1])
    assert inflation > 3.0 if phi else inflation < 1.2


def test_alerts_do_not_depend_on_batching_and_survive_a_state_round_trip() -> None:
    """The same events in one call, in uneven calls, and across Monitor.state/restore give
    the same joint alerts, to the last digit."""
    stream = JointStream(seed=14)
    events = stream.events(24_000, [CorrelationChange(12_000, ("income", "age"), -0.5)])
    whole = Monitor(joint_config()).process(events)
    assert joint_alerts(whole)
    cut = Monitor(joint_config())
    pieces: list[dict[str, Any]] = []
    for start, stop in [(0, 777), (777, 9_001), (9_001, 13_000)]:
        pieces += cut.process(events[start:stop])
    restored = Monitor.restore(cut.state(), joint_config())
    pieces += restored.process(events[13_000:])
    assert pieces == whole  # every byte: the open window's sums are taken at its close


def test_replay_gives_the_monitors_alerts() -> None:
    """``replay`` over the same records gives the Python API's joint alerts."""
    stream = JointStream(seed=15)
    events = stream.events(16_000, [CorrelationChange(8_000, ("amount", "latency"), -0.2)])
    expected = [a["id"] for a in Monitor(joint_config()).process(events)]
    got: list[str] = []
    replay(
        parse_config(joint_config()), [orjson.dumps(e) for e in events], lambda a: got.append(a.id)
    )
    assert got == expected and len(expected) >= 1


def test_a_baseline_gives_the_reference_so_the_first_window_is_tested(tmp_path: Any) -> None:
    """With a training baseline, each segment's joint reference comes from its rows (through
    the baseline file), so a change from the very first live event is found in the first
    window, with no warm-up."""
    stream = JointStream(seed=16)
    training = JointStream(seed=17).events(30_000)
    baseline = Monitor.baseline_from(joint_config(), training)
    path = tmp_path / "baseline.json"
    path.write_bytes(baseline.to_json())
    loaded = load_baseline(path, parse_config(joint_config()))
    assert set(loaded.joint) == {
        (None, None),
        ("country", "DE"),
        ("country", "FR"),
        ("country", "US"),
    }
    corr = loaded.joint[(None, None)].correlation
    assert corr.names == FEATURES and abs(corr.corr[0, 1] - 0.6) < 0.03
    live = stream.events(2_000, [CorrelationChange(0, ("amount", "latency"), 0.0)])
    firing = joint_alerts(Monitor(joint_config(), loaded).process(live))
    assert any(a["segment"] == {} and a["series_events"] == WINDOW for a in firing)
    # Another choice of fields: the file's joint references do not apply, the units warm up.
    other = load_baseline(path, parse_config(joint_config(features=["amount", "latency"])))
    assert other.joint == {}


def test_hostile_joint_references_are_refused() -> None:
    """A baseline's joint reference with impossible shapes or values is a clear error."""
    rows = JointStream(seed=1).columns(2_000)
    good = JointReference.from_rows(FEATURES, np.column_stack([rows[f] for f in FEATURES]))
    data = good.to_dict()
    assert JointReference.from_dict(orjson.loads(orjson.dumps(data))).correlation.names == FEATURES
    for field, bad in [
        ("correlations", [[2.0] * 4] * 4),
        ("inflation", [[0.5] * 4] * 4),
        ("counts", [1.0, 2.0]),
        ("fields", ["amount"]),
    ]:
        with pytest.raises(ValueError):
            JointReference.from_dict({**data, field: bad})


@pytest.mark.parametrize(
    ("joint", "message"),
    [
        ({"features": ["amount", "nope"]}, "detection.joint.features: ['nope']"),
        ({"features": ["amount"]}, "at least two numeric fields"),
        ({"top_pairs": 0}, "top_pairs"),
    ],
)
def test_config_errors_name_the_field(joint: dict[str, Any], message: str) -> None:
    """A wrong joint section fails at start, naming the field."""
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(joint_config(**joint))
