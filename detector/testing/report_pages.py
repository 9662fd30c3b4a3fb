"""Helpers of the report tests: read the HTML page back, and measure it in headless Chromium
(which the caller finds with ``shutil.which("chromium")``)."""

from __future__ import annotations

import re
import subprocess
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1200",
    "--enable-logging=stderr",
    "--v=0",
]

# Run in the page after its own script: every SVG text's box, the overlapping pairs, the time
# axis labels, and which series the filter box leaves visible for "latency".
MEASURE = """<script>{
const out = {overlaps: [], texts: 0, timeAxes: [], filtered: [], missing: []};
for (const svg of document.querySelectorAll('details svg')) {
  svg.closest('details').open = true;
}
for (const svg of document.querySelectorAll('svg')) {
  const boxes = [...svg.querySelectorAll('text')].map(t => [t, t.getBoundingClientRect()]);
  out.texts += boxes.length;
  for (let i = 0; i < boxes.length; i++) {
    const [a, r] = boxes[i];
    if (r.width === 0 || r.height === 0) { out.missing.push(a.textContent); }
    for (let j = i + 1; j < boxes.length; j++) {
      const [b, s] = boxes[j];
      const w = Math.min(r.right, s.right) - Math.max(r.left, s.left);
      const h = Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top);
      if (w > 0.5 && h > 0.5) { out.overlaps.push([a.textContent, b.textContent]); }
    }
  }
  if (svg.classList.contains('timeline') || svg.classList.contains('metric')) {
    out.timeAxes.push([...svg.querySelectorAll('text tspan')].map(t => t.textContent));
  }
}
const box = document.getElementById('filter');
box.value = 'latency';
box.dispatchEvent(new Event('input'));
out.filtered = [...document.querySelectorAll('details[id^="series-"]')]
  .filter(e => !e.hidden).map(e => e.id);
const pre = document.createElement('pre');
pre.id = 'measured';
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
}</script>"""


def run_chromium(
    chromium: str, page: Path, tmp: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    command = [chromium, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *extra, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def measure(chromium: str, html: str, tmp: Path) -> dict[str, Any]:
    """Load the page with :data:`MEASURE` appended in Chromium; its findings."""
    page = tmp / "measured.html"
    page.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    done = run_chromium(chromium, page, tmp, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert found is not None, done.stdout[-2000:]
    result: dict[str, Any] = orjson.loads(unescape(found.group(1)))
    return result


class Card(HTMLParser):
    """One series card read back: its ratios, status, table cells and bar tooltips."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.attrs: dict[str, dict[str, str]] = {}  # first element of a class -> its attributes
        self.text: dict[str, str] = {}  # first element of a class -> its text
        self.tables: dict[str, list[list[str]]] = {}
        self.bars: list[str] = []
        self.points = 0
        self._open: list[tuple[str, str]] = []  # (tag, class)
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for css in a.get("class", "").split():
            self.attrs.setdefault(f"{tag}.{css}", a)
        self._open.append((tag, a.get("class", "")))
        if tag == "table":
            self._table = a.get("class", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "polyline":
            self.points = len(a.get("points", "").split())

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for tag, css in self._open:
            for name in css.split():
                key = f"{tag}.{name}"
                self.text[key] = self.text.get(key, "") + data
        if self._open and self._open[-1][0] == "title":
            self.bars.append(data)


def cards(page: str) -> dict[str, str]:
    """Series id -> the HTML of its card (series cards hold no nested details)."""
    found = re.findall(
        r"(<details class='card [a-z]+' id='(series-[^']+)'.*?</details>)", page, re.S
    )
    return {ident: body for body, ident in found}
