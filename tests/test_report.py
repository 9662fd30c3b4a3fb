"""The HTML drift report: self-contained, ranked, and rendered by a real headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest

from detector.config import parse_config
from detector.engine import Engine
from detector.observability.http import ObservabilityServer
from detector.replay import replay
from detector.report import rank_series, render
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

ROOT = Path(__file__).resolve().parents[1]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in {"src", "href"}]


@pytest.fixture(scope="module")
def engine() -> Engine:
    stream = SyntheticStream(
        numeric=["amount", "latency"], segments={"country": ["DE", "FR", "US"]}, seed=5
    )
    config = parse_config(config_dict(stream, "fraud"))
    drift = Drift("amount", 6000, 1.5, segment=("country", "DE"))
    lines = (orjson.dumps(e) for e in stream.events(12_000, [drift]))
    result = replay(config, lines, lambda alert: None)
    assert result.engine is not None
    return result.engine


def test_report_is_self_contained_and_ranks_the_drifted_series_first(engine: Engine) -> None:
    """No external assets or scripts; the drifted series leads; every card has its charts."""
    page = render(engine, "now")
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags and parser.urls == []
    assert parser.tags.count("svg") >= 2 * min(12, len(engine.series))
    key, _, ratio, _ = rank_series(engine)[0]
    assert key == ("amount", "country", "DE") and ratio > 1.0
    assert page.index("amount · country=DE") < page.index("latency")
    assert "amount drifted in segment country=DE" in page  # the alert timeline


def test_report_command_writes_the_page(tmp_path: Path) -> None:
    """`drift-detector report` replays a file and writes the HTML."""
    from detector.cli import main

    out = tmp_path / "report.html"
    args = [
        "report",
        "--config",
        str(ROOT / "examples" / "fraud.yaml"),
        "--input",
        str(ROOT / "examples" / "events.jsonl"),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert "amount · country=DE" in out.read_text()


def test_worker_endpoint_serves_the_live_report(engine: Engine) -> None:
    """/report on the metrics port renders the engine's current state."""
    from prometheus_client import CollectorRegistry

    def ok() -> tuple[bool, dict[str, object]]:
        return True, {}

    server = ObservabilityServer(
        "127.0.0.1", 0, CollectorRegistry(), ok, ok, report=lambda: render(engine, "live")
    ).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/report", timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/html")
            assert b"Drift report" in r.read()
    finally:
        server.close()


def test_headless_chromium_renders_the_report(engine: Engine, tmp_path: Path) -> None:
    """Chromium loads the page without console errors and the screenshot has the plots."""
    chromium = shutil.which("chromium")
    if chromium is None:
        message = "chromium is not installed (Debian package chromium; make test-deps)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    page.write_text(render(engine, "now"), encoding="utf-8")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1400,1200",
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={shot}",
    ]
    done = subprocess.run(
        [chromium, *flags, page.as_uri()], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == []
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 40_000  # bars and lines; a page of a heading alone is about 12 KiB
