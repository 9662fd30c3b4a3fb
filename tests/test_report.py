"""The drift report: one dict rendered as HTML and JSON, ranked by the core's own alarm levels,
and checked in a real headless Chromium (layout, anchors, filter, dates)."""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from prometheus_client import CollectorRegistry

from detector.config import parse_config
from detector.engine import Engine
from detector.observability.collectors import build_registry, segment_of
from detector.observability.http import ObservabilityServer
from detector.replay import replay
from detector.report import Report, build, render, render_page
from detector.report.charts import TIMES, fmt_number, fmt_ratio, fmt_share
from detector.report.data import series_id
from detector.report.schema import SCHEMA
from detector.testing.report_pages import Card, cards, measure, run_chromium
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

ROOT = Path(__file__).resolve().parents[1]
DRIFT_TESTS = {"psi", "js", "ks", "wasserstein", "chi_square"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        self.urls += [
            v or "" for k, v in attrs if k == "src" or (k == "href" and v and v[0] != "#")
        ]
        self.ids += [a["id"] or ""] if "id" in a else []
        self.hrefs += [a["href"] or ""] if "href" in a else []


@pytest.fixture(scope="module")
def engine() -> Engine:
    """18 series (3 features x all + 5 countries); amount drifts in DE from event 6,000."""
    countries = ["DE", "FR", "US", "GB", "IT"]
    stream = SyntheticStream(numeric=["amount", "latency"], segments={"country": countries}, seed=5)
    config = parse_config(config_dict(stream, "fraud"))
    drift = Drift("amount", 6000, 1.5, segment=("country", "DE"))
    lines = (orjson.dumps(e) for e in stream.events(15_000, [drift]))
    result = replay(config, lines, lambda alert: None)
    assert result.engine is not None
    return result.engine


@pytest.fixture(scope="module")
def data(engine: Engine) -> dict[str, Any]:
    return build(engine, "2026-01-02T00:00:00+00:00")


@pytest.fixture(scope="module")
def page(data: dict[str, Any]) -> str:
    return render_page(data)


def _core_ratio(series: Any) -> float:
    """Straight from the core: its last window's drift tests and Page-Hinkley's running value,
    each over the level it compares with (the ratio the report must show)."""
    core = series._core
    ratios = [v / t for name, v, t in core.last_window() if name in DRIFT_TESTS]
    cusum = core.cusum() if hasattr(core, "cusum") else None
    ratios += [cusum[0] / cusum[1]] if cusum is not None else []
    return float(max(ratios))


def test_series_are_ranked_by_the_cores_own_alarm_levels(
    engine: Engine, data: dict[str, Any]
) -> None:
    """Every ratio is the core's decision statistic over its level (no 4/sqrt(n) band); the
    list is sorted by it and the drifted series leads."""
    ranked = [e["alarm"]["ratio"] for e in data["series"]]
    assert ranked == sorted(ranked, reverse=True)
    assert data["series"][0]["id"] == "series-amount.country=DE" and ranked[0] > 1.0
    for entry in data["series"]:
        key = (entry["feature"], *(next(iter(entry["segment"].items()), (None, None))))
        assert entry["alarm"]["ratio"] == _core_ratio(engine.series[key])
        assert entry["alarm"]["statistic"] != "mean_score_sd"


def test_no_ratio_of_one_or_more_without_a_firing_alert(engine: Engine, page: str) -> None:
    """A card at or past 1x shows its firing drift alert; "No alerts" only below 1x, and a
    ratio is rounded down so 0.999 never prints as 1.00."""
    assert fmt_ratio(0.99999) == "0.99" and fmt_ratio(1.0001) == "1.00"
    found = cards(page)
    assert len(found) == len(engine.series)
    quiet = 0
    for ident, html in found.items():
        card = Card(html)
        ratio = float(card.attrs["span.ratio"]["data-ratio"])
        status = card.text["span.status"]
        shown = float(card.text["span.ratio"].rstrip(TIMES))
        if ratio >= 1.0 or shown >= 1.0:
            assert status.startswith("firing: drift since"), (ident, status)
        if "No alerts" in status:
            quiet += 1
            assert ratio < 1.0 and shown < 1.0, ident
    assert 0 < quiet < len(found)


def test_metrics_export_the_same_ratio_and_no_noise_band(
    engine: Engine, data: dict[str, Any]
) -> None:
    """drift_series_statistic / drift_series_statistic_threshold, at its largest drift
    statistic, is each series' report ratio; mean_score_sd has no threshold any more."""
    registry = build_registry(None, engine, "fraud", series_cap=1000)
    samples = {
        (s.name, s.labels["feature"], s.labels["segment"], s.labels["statistic"]): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name.startswith("drift_series_statistic")
    }
    for entry in data["series"]:
        feature, segment = entry["feature"], entry["segment_label"]
        ratios = [
            value / samples[("drift_series_statistic_threshold", f, seg, stat)]
            for (name, f, seg, stat), value in samples.items()
            if name == "drift_series_statistic"
            and (f, seg) == (feature, segment)
            and (stat in DRIFT_TESTS or stat == "cusum_sd")
        ]
        assert max(ratios) == pytest.approx(entry["alarm"]["ratio"], rel=1e-12)
        key = ("drift_series_statistic_threshold", feature, segment, "mean_score_sd")
        assert key not in samples
    assert segment_of(("amount", "country", "DE")) == "country=DE"


def test_header_ratio_is_the_charts_ratio(page: str) -> None:
    """Each card's header and its chart's "now" point carry the same number."""
    for ident, html in cards(page).items():
        card = Card(html)
        header = card.attrs["span.ratio"]["data-ratio"]
        assert card.attrs["svg.timeline"]["data-ratio"] == header, ident
        assert card.text["text.now"].startswith(f"now {card.text['span.ratio']} ("), ident


def test_every_series_has_an_anchor_and_a_link(engine: Engine, page: str) -> None:
    """All 18 series (not only the top 12) have a section with id #series-... and an index link;
    the page loads nothing from outside and its one script is inline."""
    parser = _Tags()
    parser.feed(page)
    assert parser.urls == [] and parser.tags.count("script") == 1
    assert "<script>" in page and " src=" not in page
    keys = [k for k, s in engine.series.items() if s.reference is not None]
    assert len(keys) == 18
    for key in keys:
        ident = series_id(key)
        assert parser.ids.count(ident) == 1 and f"#{ident}" in parser.hrefs
    assert series_id(("a b", "c_d", "ü")) == "series-a~20~b.c_d=~fc~"
    assert "id='filter'" in page


def test_chromium_lays_out_the_report_without_overlap(page: str, tmp_path: Path) -> None:
    """In Chromium: no console errors, a screenshot with the plots, no two text labels of a
    chart overlapping, ISO dates on every time axis, and the filter box leaving only the
    series whose name matches."""
    chromium = shutil.which("chromium")
    if chromium is None:
        message = "chromium is not installed (Debian package chromium; make test-deps)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    shot, html = tmp_path / "report.png", tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")
    done = run_chromium(chromium, html, tmp_path, f"--screenshot={shot}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line for line in done.stderr.splitlines() if "CONSOLE" in line] == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 40_000

    found = measure(chromium, page, tmp_path)
    assert found["texts"] > 18 * 20 and found["missing"] == []
    assert found["overlaps"] == []
    assert len(found["timeAxes"]) == 18
    for labels in found["timeAxes"]:
        dates, clocks = labels[0::2], labels[1::2]
        assert dates and all(re.fullmatch(r"2026-01-0[12]", d) for d in dates), labels
        assert all(re.fullmatch(r"\d\d:\d\d:\d\dZ", c) for c in clocks), labels
    assert sorted(found["filtered"]) == sorted(
        i for i in cards(page) if i.startswith("series-latency")
    )


def _report_files(tmp_path: Path, labelled: bool) -> tuple[Path, Path, list[str]]:
    from detector.testing.labelled import ErrorChange, LabelledStream

    out, json_out = tmp_path / "report.html", tmp_path / "report.json"
    args = ["report", "--out", str(out), "--json", str(json_out)]
    if not labelled:
        examples = ROOT / "examples"
        args += [
            "--config",
            str(examples / "fraud.yaml"),
            "--input",
            str(examples / "events.jsonl"),
        ]
        return out, json_out, args
    import yaml

    stream = LabelledStream(seed=11, label_delay=(0.0, 20.0))
    changes = [ErrorChange(6_000, 0.3)]
    events, labels = stream.events(15_000, changes), stream.labels(15_000, changes)
    files = {name: tmp_path / f"{name}.jsonl" for name in ("events", "labels")}
    files["events"].write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    files["labels"].write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in labels))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(stream.config("fraud")), encoding="utf-8")
    args += ["--config", str(config), "--input", str(files["events"])]
    return out, json_out, [*args, "--labels", str(files["labels"])]


def test_json_export_has_the_html_content(tmp_path: Path) -> None:
    """`report --out --json`: the JSON validates against the documented schema, and every
    series' id, ratios, tables, bars, history and alerts in the HTML are the JSON's."""
    from detector.cli import main

    out, json_out, args = _report_files(tmp_path, labelled=False)
    assert main(["report", *args[5:]]) == 2  # neither --out nor --json: a usage error
    assert main(args) == 0
    data = orjson.loads(json_out.read_bytes())
    Draft202012Validator(SCHEMA).validate(data)
    page = out.read_text()
    found = cards(page)
    assert list(found) == [e["id"] for e in data["series"]]
    for entry in data["series"]:
        card = Card(found[entry["id"]])
        assert card.attrs["span.ratio"]["data-ratio"] == repr(entry["alarm"]["ratio"])
        rows = card.tables["detectors"][1:]
        assert [r[0] for r in rows] == [d["statistic"] or d["detector"] for d in entry["detectors"]]
        for row, d in zip(rows, entry["detectors"], strict=True):
            if d["ratio"] is not None:
                assert row[1:] == [
                    fmt_number(d["value"]),
                    fmt_number(d["threshold"]),
                    fmt_ratio(d["ratio"]) + TIMES,
                ]
        quality = {r[0]: r[1] for r in card.tables["quality"][1:]}
        assert quality["missing (all events)"] == fmt_share(entry["quality"]["missing_rate"])
        for check in entry["quality"]["checks"]:
            if check["statistic"] != "constant":
                assert quality[f"{check['statistic']} (latest window)"] == fmt_share(check["value"])
        reference = {r[0]: r[1] for r in card.tables["reference"][1:]}
        assert reference["values"] == f"{entry['reference']['count']:,}"
        if entry["type"] == "numeric":
            assert reference["mean"] == fmt_number(entry["reference"]["mean"])
            for name, value in entry["reference"]["quantiles"].items():
                assert reference[name] == fmt_number(value)
        else:
            for top in entry["reference"]["top"]:
                assert reference[top["category"]] == fmt_share(top["share"])
        bars = [b for b in card.bars if "(reference)" in b]
        assert bars == [
            f"{b['label']}: {fmt_share(b['reference'])} (reference)"
            for b in entry["histogram"]["bins"]
        ]
        assert card.points == len(entry["history"])
        assert len(card.tables.get("", [[]])[1:]) == len(entry["alerts"])
    timeline = page.split("<h2>Alert timeline</h2>", 1)[1]
    assert [a["summary"] for a in data["alerts"]] == [
        unescape(s) for s in re.findall(r"<td>([^<]*)</td></tr>", timeline)
    ]


def test_monitor_report_json_is_its_page_data() -> None:
    """Monitor.report(): .to_dict() is the dict .html was rendered from, .json the same."""
    from detector import Monitor

    stream = SyntheticStream(seed=7)
    monitor = Monitor(config={k: v for k, v in config_dict(stream).items() if k != "topics"})
    monitor.process(stream.events(6_000))
    report = monitor.report()
    assert isinstance(report, Report)  # detector.api.Report with the data it was rendered from
    as_dict = report.to_dict()
    assert orjson.loads(report.json) == as_dict
    assert render_page(as_dict) == report.html
    Draft202012Validator(SCHEMA).validate(as_dict)


def test_report_with_labels_shows_realised_performance(tmp_path: Path) -> None:
    """`report --labels`: a performance section with each segment's realised metrics per
    window (dated), equal in HTML and JSON; the error alert of all traffic fires."""
    from detector.cli import main

    out, json_out, args = _report_files(tmp_path, labelled=True)
    assert main(args) == 0
    perf = orjson.loads(json_out.read_bytes())["performance"]
    page = out.read_text()
    assert "<h2>Model performance</h2>" in page
    segments = {s["segment"]: s for s in perf["segments"]}
    assert {"all", "country=DE", "country=FR"} <= set(segments)
    whole = segments["all"]
    assert 0.1 < whole["total"]["error_rate"] < 0.3 and "error" in whole["firing"]
    assert len(whole["windows"]) >= 10
    for segment in perf["segments"]:
        start = page.index(f"id='{segment['id']}'")
        html = page[start : page.index("</details></details>", start)]
        for window in segment["windows"]:
            rate = window["metrics"]["error_rate"]
            assert f"<td>{window['time']}</td>" in html and f"{rate:.4f}" in html
        assert f"{segment['latest']['accuracy']:.4f}" in html
    chromium = shutil.which("chromium")
    if chromium is not None:  # the performance charts' labels and dates, in Chromium
        found = measure(chromium, page, tmp_path)
        assert found["overlaps"] == [] and found["missing"] == []
        metric_axes = found["timeAxes"][-len(perf["segments"]) :]
        assert all(re.fullmatch(r"2026-01-01", d) for axis in metric_axes for d in axis[0::2])


def test_worker_endpoint_serves_the_live_report(engine: Engine) -> None:
    """/report on the metrics port renders the engine's current state."""

    def ok() -> tuple[bool, dict[str, object]]:
        return True, {}

    server = ObservabilityServer(
        "127.0.0.1", 0, CollectorRegistry(), ok, ok, report=lambda: render(engine, "live")
    ).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/report", timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/html")
            body = r.read().decode()
        assert "Drift report" in body and "id='series-amount.country=DE'" in body
    finally:
        server.close()


def test_live_report_of_a_worker_with_labels_has_performance(tmp_path: Path) -> None:
    """The worker's /report (http._live_report on its WorkerMetrics) of an engine that joined
    labels shows the performance section with the engine's realised metrics."""
    from detector.config import load_config
    from detector.observability.http import _live_report
    from detector.observability.metrics import WorkerMetrics
    from detector.replay import read_lines

    _, _, args = _report_files(tmp_path, labelled=True)
    config = load_config(Path(args[args.index("--config") + 1]))
    with open(args[args.index("--input") + 1], "rb") as events, open(args[-1], "rb") as labels:
        result = replay(config, read_lines(events), lambda a: None, None, read_lines(labels))
    assert result.engine is not None
    metrics = WorkerMetrics(config, result.engine)
    expected = build(result.engine, "now")["performance"]["segments"][0]

    def ok() -> tuple[bool, dict[str, object]]:
        return True, {}

    report = lambda: _live_report(metrics)  # noqa: E731
    server = ObservabilityServer("127.0.0.1", 0, CollectorRegistry(), ok, ok, report).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/report", timeout=10) as r:
            body = r.read().decode()
    finally:
        server.close()
    assert "<h2>Model performance</h2>" in body and f"id='{expected['id']}'" in body
    assert f"{expected['total']['error_rate']:.4f}" in body


def test_report_shows_estimated_next_to_realised_performance() -> None:
    """With a calibrated baseline, each performance segment carries its estimate windows next
    to the realised metrics (same names); predictions without labels yet still show their
    estimate; the firing cbpe alert is listed; the JSON meets the schema."""
    from detector import Monitor
    from detector.testing.joint import CovariateShift, JointStream

    stream = JointStream(seed=1)
    training = JointStream(seed=99).training(20_000)
    monitor = Monitor(stream.config(), Monitor.baseline_from(stream.config(), training))
    changes = [CovariateShift(10_000, "amount", shrink=0.3)]
    monitor.process(stream.events(20_000, changes), labels=stream.labels(10_000, changes))
    report = monitor.report()
    data = report.to_dict()
    Draft202012Validator(SCHEMA).validate(data)
    segments = {s["segment"]: s for s in data["performance"]["segments"]}
    whole = segments["all"]
    assert whole["estimate"]["method"] == "cbpe" and whole["pairs"] == 10_000
    assert len(whole["estimate"]["windows"]) == 20 and len(whole["windows"]) == 10
    assert "estimated_performance" in whole["firing"]
    assert set(whole["latest"]) >= {"accuracy", "f1"} and {"accuracy", "f1", "roc_auc"} <= set(
        whole["estimate"]["latest"]
    )
    start = report.html.index(f"id='{whole['id']}'")
    html = report.html[start:]
    assert "estimated (cbpe), latest window" in html
    assert f"{whole['estimate']['latest']['accuracy']:.4f}" in html
    assert "20 estimate windows (cbpe, 20,000 predictions)" in html
