"""The joint (multivariate) test: correlations that move while every marginal stays put."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator
from prometheus_client import generate_latest

from detector.api import Monitor
from detector.baseline import load_baseline
from detector.config import parse_config
from detector.errors import ConfigError, StateError
from detector.joint import FEATURE
from detector.multivariate import JointReference
from detector.observability.collectors import build_registry
from detector.replay import replay
from detector.report.charts import fmt_number
from detector.report.schema import SCHEMA
from detector.state.codec import decode_state, encode_state
from detector.testing.joint import FEATURES, CorrelationChange, JointStream
from detector.testing.menelaus import NUMERIC, example_batch_data
from detector.testing.report_pages import measure

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


def test_metrics_export_the_joint_statistic_and_its_level() -> None:
    """After a correlation change, each joint unit's latest max_pair_z and level are exported
    as series statistics of the feature ``joint``, and the firing one shows it; no joint line
    appears among the per-feature data errors."""
    stream = JointStream(seed=18)
    monitor = Monitor(joint_config())
    events = stream.events(6_000, [CorrelationChange(3_000, ("amount", "latency"), -0.4)])
    monitor.process(events)
    text = generate_latest(build_registry(None, monitor.engine, "joint", 1000)).decode()
    labels = 'feature="joint",model="joint",segment="all",statistic="max_pair_z"'
    value = float(text.split(f"drift_series_statistic{{{labels}}} ")[1].split()[0])
    level = float(text.split(f"drift_series_statistic_threshold{{{labels}}} ")[1].split()[0])
    assert value > level > 4.0
    assert (
        'drift_series_firing{feature="joint",kind="drift",model="joint",segment="all"} 1.0' in text
    )
    assert 'drift_feature_missing_values_total{feature="joint"' not in text


def test_report_shows_each_joint_unit_and_the_pairs_that_moved(tmp_path: Any) -> None:
    """The report's joint section: every unit, the firing one with the moved pair first, the
    ratio the metrics export, equal in HTML and JSON and valid against the report schema; laid
    out without overlap in Chromium when it is installed."""
    stream = JointStream(seed=19)
    monitor = Monitor(joint_config())
    events = stream.events(8_000, [CorrelationChange(4_000, ("amount", "latency"), -0.3)])
    monitor.process(events)
    report = monitor.report()
    data = report.to_dict()
    Draft202012Validator(SCHEMA).validate(data)
    joint = data["joint"]
    assert joint["fields"] == list(FEATURES)
    units = {u["segment"]: u for u in joint["units"]}
    assert set(units) == {"all", "country=DE", "country=FR", "country=US"}
    whole = units["all"]
    assert whole["firing"] is not None and whole["pairs"][0]["pair"] == "amount~latency"
    unit = monitor.engine.joint[("#joint", None, None)]
    value, level = unit.drift_statistics()["max_pair_z"]
    assert whole["ratio"] == value / level > 1
    assert len(whole["windows"]) == (8_000 - 1_000) // WINDOW
    assert whole["alerts"] and all(a["feature"] == FEATURE for a in whole["alerts"])
    page = report.html
    start = page.index(f"id='{whole['id']}'")
    card = page[start : page.index("</details>", start)]
    assert "amount~latency" in card and fmt_number(whole["pairs"][0]["current"]) in card
    chromium = shutil.which("chromium")
    if chromium is not None:
        found = measure(chromium, page, tmp_path)
        assert found["overlaps"] == [] and found["missing"] == []


def test_menelaus_example_correlation_change_of_2015_is_found_and_only_by_the_joint_test() -> None:
    """menelaus' example data (its draws, bit for bit): e~f goes from 0 to 0.5 in 2015 with
    both marginals unchanged. Per-feature tests see nothing in 2015; the joint test fires
    once, in the first window of 2015, names e~f, and resolves in 2016."""
    data = example_batch_data()
    events = [
        {"ts": 1.7e9 + i, **{c: float(data[c][i]) for c in NUMERIC}}
        for i in range(len(data["year"]))
    ]
    config: dict[str, Any] = {
        "model": "menelaus",
        "event": {"time": "ts"},
        "features": [{"name": c, "path": c, "type": "numeric"} for c in NUMERIC],
    }
    start_2015 = int(np.argmax(data["year"] == 2015))

    def year_of(alert: dict[str, Any]) -> int:
        return int(data["year"][alert["series_events"] - 1])

    alone = Monitor(config).process(events)
    assert [a for a in alone if year_of(a["data"]) == 2015] == []
    config["detection"] = {"joint": {"enabled": True}}
    joint = joint_alerts(Monitor(config).process(events))
    assert [(a["status"], year_of(a)) for a in joint] == [("firing", 2015), ("resolved", 2016)]
    assert joint[0]["series_events"] <= start_2015 + 2 * WINDOW
    assert next(iter(joint[0]["current"]["correlations"])) == "e~f"


def test_the_docs_config_snippet_turns_the_test_on() -> None:
    """docs/multivariate.md's YAML snippet parses into a config with the joint test on."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "multivariate.md").read_text()
    snippet = text.split("<!-- config: joint -->\n```yaml\n", 1)[1].split("```", 1)[0]
    cfg = joint_config()
    cfg["detection"] = yaml.safe_load(snippet)["detection"]
    assert parse_config(cfg).joint_fields() == list(FEATURES)


@pytest.mark.parametrize(
    ("field", "bad"),
    [("_rows", "many"), ("_open", {"not": "arrays"}), ("lifecycle", 3), ("last_pairs", {})],
)
def test_hostile_joint_state_is_refused(field: str, bad: object) -> None:
    """A Monitor state whose joint unit was tampered with (a counter become text, a window
    that is no list of arrays, a lifecycle or pair list of the wrong type) is refused."""
    stream = JointStream(seed=20)
    monitor = Monitor(joint_config())
    monitor.process(stream.events(3_000))
    shared = monitor.engine.units.shared_state()
    snapshot = decode_state(monitor.state(), shared)
    unit = next(u for k, u in snapshot["units"] if k[0] == "#joint")
    setattr(unit, field, bad)
    with pytest.raises(StateError):
        Monitor.restore(encode_state(snapshot, shared), joint_config())


def test_time_windows_give_the_same_alerts_when_a_batch_ends_with_a_window() -> None:
    """Windows of 5 s of event time; one call ending exactly where a window does (it closes
    when the next call's first event arrives) gives the alerts of one whole call, to the
    byte: dated by the window's last event, counted to it."""
    stream = JointStream(seed=14)
    events = stream.events(24_000, [CorrelationChange(12_000, ("income", "age"), -0.5)])
    config = joint_config()
    config["detection"]["window_seconds"] = 5.0  # 500 events at 10 ms
    whole = Monitor(config).process(events)
    assert any(a["series_events"] == 12_500 for a in joint_alerts(whole))
    cut = Monitor(config)
    pieces = cut.process(events[:12_500]) + cut.process(events[12_500:])
    assert pieces == whole
