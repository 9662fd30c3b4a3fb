"""The report as one self-contained HTML page, rendered from the data dict alone.

Inline CSS and SVG, no external assets; one small inline script filters series by name and opens
a series' section when its anchor (``#series-...``) is followed. Without the script every
series is still listed, linked and rendered.
"""

from __future__ import annotations

from html import escape
from typing import Any

from detector.report.charts import (
    TIMES,
    fmt_number,
    fmt_ratio,
    fmt_share,
    histogram,
    series_chart,
)
from detector.report.joint import joint_html
from detector.report.performance_page import performance_html

OPEN_SERIES = 12  # series whose sections start open (the rest are one click, or a link, away)

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2430;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}h4{margin:10px 0 4px}
.muted{color:#667}.card{background:#fff;border:1px solid #dde1e6;border-left:6px solid #9aa5b1;
border-radius:8px;padding:10px 14px;margin:0 0 12px}.card>summary{cursor:pointer;font-size:15px}
.calm{border-left-color:#2e8b57}.near{border-left-color:#d99a00}.over{border-left-color:#b3261e}
.firing{color:#b3261e;font-weight:600}.ratio{font-weight:600}
table{border-collapse:collapse;background:#fff;margin:4px 0}td,th{padding:3px 8px;
border-bottom:1px solid #e4e7eb;text-align:left;font-size:13px}th{background:#eef1f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;gap:12px;flex-wrap:wrap;margin:8px 0}.tables{display:flex;gap:18px;
flex-wrap:wrap;align-items:flex-start}svg{background:#fbfcfd;border:1px solid #e4e7eb}
.ref{fill:#9aa5b1}.cur{fill:#2f6fde}.line{fill:none;stroke:#2f6fde;stroke-width:2}
.now{fill:#b3261e;font-size:11px}circle.now{stroke:#fff}.alarm{stroke:#b3261e;
stroke-dasharray:4 3}.grid{stroke:#eef0f3}.axisline,.tick{stroke:#889}
.axis{font-size:10px;fill:#556}.title{font-size:11px;fill:#334}
#filter{font-size:14px;padding:4px 8px;width:320px;margin:8px 0}
"""

SCRIPT = """{
const box=document.getElementById('filter');
box.addEventListener('input',()=>{const q=box.value.trim().toLowerCase();
for(const e of document.querySelectorAll('[data-name]')){
e.hidden=q!==''&&!e.dataset.name.toLowerCase().includes(q);}});
function openTarget(){const id=decodeURIComponent(location.hash.slice(1));
const e=id&&document.getElementById(id);if(e&&e.tagName==='DETAILS'){e.open=true;}}
addEventListener('hashchange',openTarget);openTarget();}
"""


def colour(entry: dict[str, Any]) -> str:
    """over: at or past the level, or firing; near: past half of it; calm otherwise."""
    ratio = (entry["alarm"] or {}).get("ratio") or 0.0
    if ratio >= 1.0 or entry["firing"]:
        return "over"
    return "near" if ratio >= 0.5 else "calm"


def status_html(entry: dict[str, Any]) -> str:
    """Firing alerts with their start, or why nothing fires."""
    if entry["firing"]:
        parts = [
            f"{escape(key)} since {escape(life['since'])} ({escape(life['severity'])})"
            for key, life in entry["firing"].items()
        ]
        return f"<span class='firing status'>firing: {'; '.join(parts)}</span>"
    if entry["alerts"]:
        return "<span class='status'>no alert firing (earlier alerts below)</span>"
    return "<span class='status'>No alerts</span>"


def ratio_html(entry: dict[str, Any]) -> str:
    alarm = entry["alarm"]
    if alarm is None:
        return "<span class='ratio' data-ratio=''>no tested window yet</span>"
    return (
        f"<span class='ratio' data-ratio='{alarm['ratio']!r}'>{fmt_ratio(alarm['ratio'])}"
        f"{TIMES}</span> its alarm level ({escape(alarm['statistic'])})"
    )


def _table(head: list[str], rows: list[list[str]], css: str = "") -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)
    return f"<table{css}><tr>{th}</tr>{body}</table>"


def _td(text: str, numeric: bool = False) -> str:
    return f"<td class='n'>{escape(text)}</td>" if numeric else f"<td>{escape(text)}</td>"


def _detectors(entry: dict[str, Any]) -> str:
    rows = []
    for d in entry["detectors"]:
        if d["ratio"] is None:
            rows.append(
                [
                    _td(d["detector"]),
                    "<td colspan='4' class='muted'>decides inside the "
                    "core; no margin to its level is exposed</td>",
                ]
            )
            continue
        rows.append(
            [
                _td(d["statistic"]),
                _td(fmt_number(d["value"]), True),
                _td(fmt_number(d["threshold"]), True),
                _td(fmt_ratio(d["ratio"]) + TIMES, True),
            ]
        )
    return _table(["drift statistic", "value", "alarm level", "ratio"], rows, " class='detectors'")


def _quality(entry: dict[str, Any]) -> str:
    q = entry["quality"]
    rows = [
        [
            _td("missing (all events)"),
            _td(fmt_share(q["missing_rate"]), True),
            _td("", True),
            _td(""),
        ],
        [
            _td("type errors (all events)"),
            _td(fmt_share(q["type_error_rate"]), True),
            _td("", True),
            _td(""),
        ],
    ]
    for c in q["checks"]:
        shown = (
            fmt_share(c["value"])
            if c["statistic"] != "constant"
            else ("yes" if c["value"] else "no")
        )
        level = fmt_share(c["threshold"]) if c["statistic"] != "constant" else ""
        rows.append(
            [
                _td(f"{c['statistic']} (latest window)"),
                _td(shown, True),
                _td(level, True),
                _td("firing" if c["firing"] else "ok"),
            ]
        )
    return _table(["quality", "rate", "plausible up to", "check"], rows, " class='quality'")


def _reference(entry: dict[str, Any]) -> str:
    r = entry["reference"]
    rows = [[_td("values"), _td(f"{r['count']:,}", True)]]
    if entry["type"] == "numeric":
        rows += [[_td(k), _td(fmt_number(r[k]), True)] for k in ("mean", "std", "min")]
        rows += [[_td(k), _td(fmt_number(v), True)] for k, v in r["quantiles"].items()]
        rows.append([_td("max"), _td(fmt_number(r["max"]), True)])
    else:
        rows += [[_td(t["category"]), _td(fmt_share(t["share"]), True)] for t in r["top"]]
        rows.append([_td("other categories"), _td(fmt_share(r["other_share"]), True)])
    rows.append([_td("missing"), _td(fmt_share(r["missing_rate"]), True)])
    return _table(["reference", ""], rows, " class='reference'")


def alerts_html(alerts: list[dict[str, Any]], empty: str = "No alerts.") -> str:
    if not alerts:
        return f'<p class="muted">{escape(empty)}</p>'
    rows = [
        [
            _td(a["observed_at"]),
            f"<td{' class=firing' if a['status'] == 'firing' else ''}>{escape(a['status'])}</td>",
            _td(a["severity"]),
            _td(a["summary"]),
        ]
        for a in alerts
    ]
    return _table(["observed at", "status", "severity", "summary"], rows)


def series_html(entry: dict[str, Any], rank: int) -> str:
    name = f"{entry['feature']} · {entry['segment_label']}"
    history = entry["history"]
    alarm = entry["alarm"]
    now = (alarm["ratio"], alarm["statistic"]) if alarm is not None else None
    chart = series_chart(
        [p["time"] for p in history],
        [p["ratio"] for p in history],
        y_title="÷ alarm level",
        log=True,
        now=now,
    )
    hist = histogram(entry["histogram"]) if entry["histogram"] else ""
    adjusted = f" · adjusted for the {entry['adjusted_for']} cycle" if entry["adjusted_for"] else ""
    return (
        f"<details class='card {colour(entry)}' id='{entry['id']}' data-name='{escape(name)}'"
        f"{' open' if rank < OPEN_SERIES else ''}><summary><b>{escape(name)}</b> · "
        f"{ratio_html(entry)} · {status_html(entry)}</summary>"
        f"<div class='muted'>{entry['type']} · {entry['events']:,} events{adjusted} · "
        f"<a href='#{entry['id']}'>#{entry['id']}</a></div>"
        f"<div class='charts'>{hist}{chart}</div><div class='tables'>{_detectors(entry)}"
        f"{_quality(entry)}{_reference(entry)}</div>"
        f"<h4>Alerts</h4>{alerts_html(entry['alerts'])}</details>"
    )


def _index(series: list[dict[str, Any]]) -> str:
    rows = []
    for i, e in enumerate(series):
        name = f"{e['feature']} · {e['segment_label']}"
        alarm = e["alarm"] or {}
        rows.append(
            f"<tr data-name='{escape(name)}'><td class='n'>{i + 1}</td><td><a href='#{e['id']}'>"
            f"{escape(e['feature'])}</a></td>{_td(e['segment_label'])}"
            f"{_td(alarm.get('statistic') or '-')}"
            f"{_td(fmt_ratio(alarm.get('ratio')) + (TIMES if alarm else ''), True)}"
            f"{_td(', '.join(e['firing']) or '-')}{_td(format(e['events'], ','), True)}</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("#", "feature", "segment", "statistic", "÷ alarm level", "firing", "events")
    )
    return f"<table class='index'><tr>{head}</tr>{''.join(rows)}</table>"


def render_page(data: dict[str, Any]) -> str:
    """The page for one report dict (:func:`detector.report.data.build`)."""
    model = escape(data["model"])
    series = data["series"]
    cards = "".join(series_html(e, i) for i, e in enumerate(series))
    perf, joint = data["performance"], data["joint"]
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Drift report · {model}</title><style>{CSS}</style></head><body>"
        f"<h1>Drift report · {model}</h1><div class='muted summary'>{data['events']:,} events · "
        f"{len(series)} series monitored, {data['series_warming_up']} warming up · "
        f"{data['firing_series']} with firing alerts · generated {escape(data['generated_at'])}."
        f" Each series is ranked by its strongest drift statistic divided by the level at which "
        f"it alerts (1{TIMES} = alerts; the levels include the false-alarm budget, the measured "
        f"dependence and seasonal adjustment). Bars: reference (grey) vs latest window (blue)."
        f"</div><input id='filter' type='search' placeholder='filter series by name' "
        f"aria-label='filter series'>"
        f"<h2>All series</h2>{_index(series)}"
        f"<h2>Series</h2>{cards}"
        f"{joint_html(joint, alerts_html) if joint else ''}"
        f"{performance_html(perf) if perf else ''}"
        f"<h2>Alert timeline</h2>{alerts_html(data['alerts'])}"
        f"<script>{SCRIPT}</script></body></html>"
    )
