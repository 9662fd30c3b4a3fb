"""The Python API (detector.api.Monitor): the alerts of replay, byte for byte, from Python."""

from __future__ import annotations

import itertools
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector import Monitor
from detector.alerts import AlertEvent, alert_bytes
from detector.api import _frame_rows
from detector.baseline import build_baseline
from detector.cli import main
from detector.config import parse_config
from detector.errors import ConfigError, StateError
from detector.replay import replay
from detector.testing.labelled import ErrorChange, LabelledStream
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

ROOT = Path(__file__).resolve().parents[1]
N = 24_000


def _no_topics(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "topics"}


STREAM = SyntheticStream(seed=11)
CONFIG = _no_topics(config_dict(STREAM))
DRIFT = [Drift("amount", start=12_000, shift=1.0, segment=("country", "DE"))]


def _events() -> list[dict[str, Any]]:
    """Seeded events with a drift, and a few records replay rejects."""
    events: list[Any] = list(STREAM.events(N, DRIFT))
    events[100] = {"event_id": "bad", "ts": "yesterday", "features": {"amount": 1.0}}
    events[5000] = 42
    return events


def _lines(events: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(e) for e in events]


def _replayed(lines: list[bytes], labels: list[bytes] | None = None, **kw: Any) -> list[bytes]:
    out: list[AlertEvent] = []
    replay(parse_config(kw.get("config", CONFIG)), lines, out.append, labels=labels)
    return [alert_bytes(a) for a in out]


def _bytes(alerts: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(a) for a in alerts]


@pytest.fixture(scope="module")
def expected() -> list[bytes]:
    alerts = _replayed(_lines(_events()))
    assert any(b'"firing"' in a for a in alerts), "the drift should be found"
    return alerts


@pytest.mark.parametrize("kind", ["dicts", "bytes", "str"])
def test_inputs_give_replays_alerts(kind: str, expected: list[bytes]) -> None:
    """Dicts, JSON bytes and str lines give replay's alerts byte for byte; rejections are
    counted by reason and reported with replay's record numbers, never raised."""
    events = _events()
    given: Any = {"dicts": events, "bytes": _lines(events)}.get(kind)
    if kind == "str":
        given = [line.decode() + "\n" for line in _lines(events)]
    heard: list[int] = []
    monitor = Monitor(config=CONFIG, on_rejection=lambda n, r, raw: heard.append(n))
    assert _bytes(monitor.process(given)) == expected
    summary = monitor.summary()
    assert summary["records"] == N and summary["alerts"] == len(expected)
    assert sum(summary["rejected"].values()) == 2 and heard == [101, 5001]


def test_dataframe_gives_replays_alerts(expected: list[bytes]) -> None:
    """A DataFrame with dotted column names (pandas.json_normalize) gives replay's alerts."""
    pd = pytest.importorskip("pandas")
    frame = pd.json_normalize(list(STREAM.events(N, DRIFT)))
    clean = _replayed(_lines(list(STREAM.events(N, DRIFT))))
    assert _bytes(Monitor(config=CONFIG).process(frame)) == clean


def test_frame_rows_nest_columns_and_drop_empty_cells() -> None:
    """Frame rows (without pandas: any object with to_dict(orient=...)) nest dotted columns;
    None and NaN cells are absent keys, as in a CSV baseline input."""

    class Frame:
        def to_dict(self, orient: str) -> list[dict[str, Any]]:
            assert orient == "records"
            return [
                {"features.amount": 1.5, "features.mcc": None, "segment.c": "DE", "x": math.nan}
            ]

    assert list(_frame_rows(Frame())) == [{"features": {"amount": 1.5}, "segment": {"c": "DE"}}]


def test_split_calls_equal_one_call(expected: list[bytes]) -> None:
    """Events split over several process calls at odd points give the alerts of one call."""
    events, monitor, alerts = _events(), Monitor(config=CONFIG), []
    cuts = [0, 1, 777, 5000, 12_345, 12_346, N]
    for start, end in itertools.pairwise(cuts):
        alerts += monitor.process(events[start:end])
    assert _bytes(alerts) == expected


def test_state_round_trip_mid_stream_continues_exactly(expected: list[bytes]) -> None:
    """State saved mid-stream and restored into a new monitor continues exactly."""
    events, first = _events(), Monitor(config=CONFIG)
    alerts = first.process(events[:13_001])
    data = first.state()
    assert isinstance(data, bytes) and b"pickle" not in data
    second = Monitor.restore(data, config=CONFIG)
    assert second.summary() == first.summary()
    alerts += second.process(events[13_001:])
    assert _bytes(alerts) == expected
    assert second.summary()["records"] == N
    with pytest.raises(StateError):
        Monitor.restore(data, config={**CONFIG, "model": "other"})
    with pytest.raises(StateError):
        Monitor.restore(data[:50], config=CONFIG)


def test_labels_equal_replay_labels() -> None:
    """Events and labels in one call give replay --labels' alerts; labels are counted."""
    stream = LabelledStream(seed=6, label_delay=(0.0, 30.0), lost=0.05)
    config = _no_topics(stream.config())
    config["label"]["ttl_seconds"] = 300.0
    changes = [ErrorChange(8_000, 0.2)]
    events = _lines(stream.events(20_000, changes))
    labels = _lines(stream.labels(20_000, changes))
    expected = _replayed(events, labels, config=config)
    assert any(b'"performance"' in a for a in expected)
    monitor = Monitor(config=config)
    assert _bytes(monitor.process(events, labels=labels)) == expected
    assert monitor.summary()["labels"]["records"] == len(labels)
    with pytest.raises(ConfigError, match="label section"):
        Monitor(config=CONFIG).process(labels=labels)


def test_baseline_from_equals_the_baseline_command(tmp_path: Path) -> None:
    """baseline_from builds the baseline command's file; a monitor on it gives replay's alerts
    under a config naming that file."""
    training = list(STREAM.events(8_000))
    baseline = Monitor.baseline_from(CONFIG, training)
    assert baseline.to_json() == build_baseline(parse_config(CONFIG), _lines(training)).to_json()
    path = tmp_path / "baseline.json"
    path.write_bytes(baseline.to_json())
    events = _lines(list(STREAM.events(N, DRIFT)))
    expected = _replayed(events, config={**CONFIG, "baseline": str(path)})
    assert _bytes(Monitor(CONFIG, baseline).process(events)) == expected
    assert _bytes(Monitor(CONFIG, baseline=path).process(events)) == expected


def test_report_and_summary(tmp_path: Path) -> None:
    """report() is the HTML page with save() and _repr_html_; summary() has replay's keys."""
    monitor = Monitor(config=CONFIG)
    monitor.process(_events()[:15_000])
    report = monitor.report()
    assert report.html.lstrip().lower().startswith("<!doctype html")
    assert report._repr_html_() == report.html
    assert report.save(tmp_path / "r.html").read_text(encoding="utf-8") == report.html
    assert set(monitor.summary()) == {"records", "rejected", "alerts", "series"}


def test_config_without_topics_works_and_run_still_needs_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """topics is optional for the API and replay; run fails at start naming it (exit 2), and
    a bad config is a ConfigError naming the field."""
    assert parse_config(CONFIG).topics is None
    text = (ROOT / "examples" / "fraud.yaml").read_text()
    text = re.sub(r"topics:\n(  .*\n)+", "", text).replace("${KAFKA_BOOTSTRAP_SERVERS:-", "")
    config = tmp_path / "notopics.yaml"
    config.write_text(text.replace("127.0.0.1:9092}", "127.0.0.1:1"))
    assert Monitor.from_config(config).process([b"{}"]) == []
    assert main(["run", "--config", str(config)]) == 2
    assert "topics: Field required by `run`" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"features\.0\.type"):
        Monitor(config={**CONFIG, "features": [{"name": "x", "path": "x", "type": "numerik"}]})


def _python_blocks(path: Path) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S))


def _run_python(code: str, cwd: Path) -> str:
    (cwd / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_readme_quickstart_example_runs(tmp_path: Path) -> None:
    """The README's five-line Python example runs and writes its report."""
    code = re.search(
        r"## From Python.*?```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S
    )
    assert code is not None and len([x for x in code.group(1).splitlines() if x.strip()]) == 5
    shown = _run_python(code.group(1) + "print(len(alerts), monitor.summary())\n", tmp_path)
    assert shown.startswith("3 {'records': 6000, 'rejected': {}, 'alerts': 3")
    assert (tmp_path / "report.html").is_file()


def test_api_doc_code_runs(tmp_path: Path) -> None:
    """Every ```python block of docs/api.md runs, in order, as one session."""
    code = _python_blocks(ROOT / "docs" / "api.md")
    assert "Monitor.restore" in code and "baseline_from" in code
    _run_python(code, tmp_path)


def test_quickstart_script_runs(tmp_path: Path) -> None:
    """examples/quickstart.py (notebook cells) finds the drift and writes its report."""
    out = _run_python((ROOT / "examples" / "quickstart.py").read_text(), tmp_path)
    assert "firing" in out
    assert (tmp_path / "drift_report.html").is_file()
