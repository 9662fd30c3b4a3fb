"""Configured drift detectors (river's, or any object with update / drift_detected) next to the
built-in ones: config, alerts, batch independence, state without pickle."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml

from detector import Monitor, Plugin
from detector.alerts import alert_bytes
from detector.config import parse_config
from detector.detectors.plugins import PluginSet, available, river_detector
from detector.errors import ConfigError, StateError
from detector.replay import replay
from detector.state import decode_state, encode_state
from detector.testing.labelled import ErrorChange, LabelledStream
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

# Built-in change points held back (and windows long), so what fires first is the plugin.
QUIET_BUILTINS = {"adwin_delta": 1e-300, "ph_threshold": 1e9, "window": 5000}
SHIFT_AT = 20_000


class VarianceChart:
    """A user's detector: an EWMA of squared normal scores leaving 1 by more than ``limit``
    (a change of spread, which the mean-based ADWIN and Page-Hinkley do not see)."""

    def __init__(self, lam: float = 0.02, limit: float = 0.9) -> None:
        self.lam, self.limit = lam, limit
        self._ewma, self._n = 1.0, 0
        self.drift_detected = False

    def update(self, x: float) -> None:
        if self.drift_detected:  # river's contract: start afresh after a detection
            self._ewma, self._n = 1.0, 0
        self._ewma += self.lam * (x * x - self._ewma)
        self._n += 1
        self.drift_detected = self._n >= 100 and abs(self._ewma - 1.0) > self.limit


def _stream(seed: int = 3) -> SyntheticStream:
    return SyntheticStream(numeric=["amount", "latency"], categorical={}, segments={}, seed=seed)


def _config(stream: SyntheticStream, **detection: Any) -> dict[str, Any]:
    cfg = {k: v for k, v in config_dict(stream).items() if k != "topics"}
    cfg["detection"] = {**QUIET_BUILTINS, **detection}
    return cfg


def _firings(alerts: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [
        (a["data"]["detector"], a["data"]["feature"], a["data"]["series_events"])
        for a in alerts
        if a["data"]["status"] == "firing"
    ]


def test_kswin_from_the_config_alerts_on_a_shift_and_not_before() -> None:
    """A river KSWIN on one feature: no alert over 20,000 stationary events, then the drift
    alert within a few hundred events of a 1 sd shift, named river.KSWIN."""
    stream = _stream()
    kswin = {"alpha": 1e-7, "window_size": 600, "stat_size": 200, "seed": 7}
    cfg = _config(stream, plugins=[{"detector": "KSWIN", "params": kswin, "features": ["amount"]}])
    events = list(stream.events(SHIFT_AT + 1000, [Drift("amount", SHIFT_AT, 1.0)]))
    monitor = Monitor(cfg)
    assert monitor.process(events[:SHIFT_AT]) == []
    found = _firings(monitor.process(events[SHIFT_AT:]))
    assert [(d, f) for d, f, _ in found] == [("river.KSWIN", "amount")]
    assert SHIFT_AT < found[0][2] < SHIFT_AT + 400


def test_user_detector_alerts_where_the_mean_detectors_cannot() -> None:
    """An object with update / drift_detected, given to the Python API, alerts on a change of
    spread (under the default built-ins too), and not on stationary data."""
    stream = _stream()
    cfg = {k: v for k, v in config_dict(stream).items() if k != "topics"}
    plugin = Plugin(VarianceChart(), "variance_chart", features=("amount",))
    events = list(stream.events(2 * SHIFT_AT, [Drift("amount", SHIFT_AT, 3.0, kind="scale")]))
    monitor = Monitor(cfg, plugins=[plugin])
    assert monitor.process(events[:SHIFT_AT]) == []
    found = _firings(monitor.process(events[SHIFT_AT:]))
    assert found[0][:2] == ("variance_chart", "amount")
    assert SHIFT_AT < found[0][2] < SHIFT_AT + 100
    assert {f for _, f, _ in found} == {"amount"}  # latency did not move


def test_detections_do_not_depend_on_how_the_stream_is_cut() -> None:
    """The plugin's detections take their place in the stream order: the same alerts whether
    the events come in one call or in uneven pieces, and state saved mid-stream and restored
    into fresh copies continues exactly."""
    stream = _stream(seed=5)
    cfg = _config(stream)
    events = list(stream.events(30_000, [Drift("amount", 12_000, 3.0, kind="scale")]))

    def plugins() -> list[Plugin]:
        return [Plugin(VarianceChart(limit=0.6), "variance_chart", ("amount",))]

    whole = Monitor(cfg, plugins=plugins()).process(events)
    assert "variance_chart" in {d for d, _, _ in _firings(whole)}
    pieces, monitor, cuts = [], Monitor(cfg, plugins=plugins()), [0, 7, 4_321, 12_050, 30_000]
    for start, end in itertools.pairwise(cuts):
        pieces += monitor.process(events[start:end])
        if end == 12_050:  # restore from bytes, with fresh detector copies
            monitor = Monitor.restore(monitor.state(), cfg, plugins=plugins())
    assert pieces == whole


@pytest.mark.parametrize("name", [n for n in available() if n not in ("ADWIN", "binary.HDDMW")])
def test_river_detectors_continue_exactly_after_a_state_round_trip(name: str) -> None:
    """Every river drift detector whose state is plain data (all but the compiled ADWIN and
    HDDMW) continues after encode/decode as if never interrupted."""
    rng = np.random.default_rng(1)
    flags = (rng.random(4000) < np.r_[np.full(2000, 0.1), np.full(2000, 0.4)]).astype(float)
    values = flags.tolist() if name.startswith("binary.") else (flags * 3 + rng.normal(size=4000))
    xs = list(values)
    plugin = Plugin(river_detector(name, {}), "p", input="value")
    first = PluginSet([plugin])
    first.detect({"value": xs[:1500]}, list(range(1500)))
    copy = PluginSet.from_state(decode_state(encode_state(first.to_state())))
    copy.bind([plugin])
    rest = list(range(1500, 4000))
    assert copy.detect({"value": xs[1500:]}, rest) == first.detect({"value": xs[1500:]}, rest)


def test_saved_state_never_builds_classes() -> None:
    """Saved data only fills a fresh copy: a nested object where the copy has none, another
    class name, or a dunder attribute is refused (StateError), nothing is imported or run."""
    plugin = Plugin(river_detector("PageHinkley", {}), "p")
    good = PluginSet([plugin]).to_state()["states"]["p"]
    forged = [
        {**good, "_extra": ["o", "Popen", {"args": "touch /tmp/pwned"}]},
        {**good, "_x_mean": ["o", "Popen", {}]},
        {**good, "__class__": 1},
        {**good, "_x_mean": ["x"]},
    ]
    for state in forged:
        restored = PluginSet.from_state({"states": {"p": state}})
        with pytest.raises(StateError):
            restored.bind([plugin])


def test_config_errors_name_the_field() -> None:
    """Unknown classes, bad parameters, non-numeric features, detectors whose state cannot be
    saved and taken names fail at load, naming what is wrong."""
    base = config_dict(_stream())
    bad = [
        ({"detector": "KSWINN"}, "not a river drift detector"),
        ({"detector": "KSWIN", "params": {"alpah": 0.1}}, "alpah"),
        ({"detector": "KSWIN", "features": ["nope"]}, "detection.plugins.0.features"),
        ({"detector": "ADWIN"}, "cannot be saved"),
        ({"detector": "KSWIN", "name": "adwin"}, "is taken"),
        ({"detector": "os.system"}, "name a class of river.drift"),
    ]
    for plugin, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_config({**base, "detection": {"plugins": [plugin]}})


def test_plugin_needs_the_contract() -> None:
    """An object without update / drift_detected is refused when the Plugin is made."""
    with pytest.raises(TypeError, match="update"):
        Plugin(object(), "nothing")  # type: ignore[arg-type]


def test_binary_detector_on_the_error_stream_equals_replay() -> None:
    """river's DDM on the labels' error stream (stream: errors) pages a rise of the error rate
    as a performance alert named river.DDM, none before it; the API's alerts are replay's."""
    stream = LabelledStream(seed=4, segments={})
    cfg = {k: v for k, v in stream.config().items() if k != "topics"}
    ddm = {"detector": "binary.DDM", "stream": "errors", "params": {"drift_threshold": 4.0}}
    cfg["detection"] = {**QUIET_BUILTINS, "plugins": [ddm]}
    changes = [ErrorChange(10_000, 0.3)]
    events = [orjson.dumps(e) for e in stream.events(16_000, changes)]
    labels = [orjson.dumps(e) for e in stream.labels(16_000, changes)]
    expected: list[bytes] = []
    replay(parse_config(cfg), events, lambda a: expected.append(alert_bytes(a)), labels=labels)
    alerts = Monitor(cfg).process(events, labels=labels)
    assert alerts == [orjson.loads(e) for e in expected]
    performance = [a["data"] for a in alerts if a["data"]["kind"] == "performance"]
    assert performance and performance[0]["detector"] == "river.DDM"
    assert performance[0]["statistic"] == "drift_detected"
    assert 10_000 < performance[0]["series_events"] < 11_000


def test_readme_plugins_sample_loads() -> None:
    """The docs' `detection.plugins` sample (docs/plugins.md) is a valid config section (with a
    label section, which `stream: errors` needs), and builds the detectors it names."""
    page = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text()
    section = page.split("# Detectors from river, or your own", 1)[1]
    sample = yaml.safe_load(section.split("```yaml", 1)[1].split("```", 1)[0])
    cfg = {k: v for k, v in LabelledStream().config().items() if k != "topics"}
    config = parse_config({**cfg, **sample})
    engine = Monitor(config).engine
    assert [(p.name, p.stream) for p in engine.units.plugins] == [
        ("river.KSWIN", "features"),
        ("river.DDM", "errors"),
    ]


def test_plugin_names_are_unique_and_not_built_in() -> None:
    """The API's plugins may not reuse a configured plugin's name or a built-in detector's:
    alerts name their detector and saved state is matched by name."""
    stream = _stream()
    cfg = _config(stream, plugins=[{"detector": "KSWIN", "features": ["amount"]}])
    with pytest.raises(ConfigError, match=r"river\.KSWIN"):
        Monitor(cfg, plugins=[Plugin(VarianceChart(), "river.KSWIN")])
    with pytest.raises(ConfigError, match="adwin"):
        Monitor(_config(stream), plugins=[Plugin(VarianceChart(), "adwin")])
