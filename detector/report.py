"""The drift report: one self-contained HTML page (inline CSS and SVG, no scripts, no assets).

Series are ranked by their strongest current statistic relative to its threshold (1.0 = at the
alarm level). For the top series the page shows the reference against the latest window
(decile bins or category shares), the strongest window test over time with the alarm level, and
the series' alerts; then the model's alert timeline. ``drift-detector report`` writes it from a
file replay; a running worker serves the same page live at ``/report``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from detector.alerts import AlertEvent, rfc3339, segment_label
from detector.baseline import SeriesKey
from detector.engine import Engine
from detector.reference import OTHER, CategoricalReference, NumericReference

TOP_SERIES = 12
_W, _H = 360, 140  # chart size in px

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2430;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.muted{color:#667}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(760px,1fr));
gap:14px}.card{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:12px 14px}
.card h3{font-size:15px;margin:0 0 6px}.firing{color:#b3261e;font-weight:600}
table{border-collapse:collapse;width:100%;background:#fff}td,th{padding:4px 8px;
border-bottom:1px solid #e4e7eb;text-align:left;font-size:13px}th{background:#eef1f4}
.charts{display:flex;gap:12px;flex-wrap:wrap}svg{background:#fbfcfd;border:1px solid #e4e7eb}
.ref{fill:#9aa5b1}.cur{fill:#2f6fde}.line{fill:none;stroke:#2f6fde;stroke-width:2}
.alarm{stroke:#b3261e;stroke-dasharray:4 3}.axis{font-size:10px;fill:#667}
"""


def _strongest(series: Any) -> tuple[float, str]:
    best, name = 0.0, ""
    for stat, result in series.drift_statistics().items():
        if result.threshold > 0 and math.isfinite(result.value):
            ratio = abs(result.value) / result.threshold
            if ratio > best:
                best, name = ratio, stat
    return best, name


def rank_series(engine: Engine) -> list[tuple[SeriesKey, Any, float, str]]:
    """Series with a reference, strongest statistic first (ratio to its threshold)."""
    ranked = []
    for key, series in list(engine.series.items()):
        if series.reference is not None:
            ratio, name = _strongest(series)
            ranked.append((key, series, ratio, name))
    return sorted(ranked, key=lambda r: (-r[2], r[0][0], str(r[0][1]), str(r[0][2])))


def _segment(key: SeriesKey) -> dict[str, str]:
    return {} if key[1] is None or key[2] is None else {key[1]: key[2]}


def _bars(labels: Sequence[str], reference: np.ndarray, current: np.ndarray | None) -> str:
    """Grouped bars: reference share (grey) and latest window share (blue) per bin."""
    k = len(labels)
    top = max(float(reference.max()), float(current.max()) if current is not None else 0.0, 1e-9)
    step = (_W - 20) / k
    parts = [f'<svg width="{_W}" height="{_H}" role="img" aria-label="reference vs current">']
    for i, label in enumerate(labels):
        x = 10 + i * step
        for j, (values, css) in enumerate(((reference, "ref"), (current, "cur"))):
            if values is None:
                continue
            h = (_H - 30) * float(values[i]) / top
            parts.append(
                f'<rect class="{css}" x="{x + j * step * 0.42:.1f}" y="{_H - 20 - h:.1f}" '
                f'width="{step * 0.4:.1f}" height="{h:.1f}"><title>{html.escape(label)}: '
                f"{float(values[i]):.1%}</title></rect>"
            )
        parts.append(
            f'<text class="axis" x="{x + step * 0.4:.1f}" y="{_H - 6}" text-anchor="middle">'
            f"{html.escape(label[:8])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _distribution(series: Any) -> str:
    ref = series.reference
    counts = series.last_counts
    current = counts / counts.sum() if counts is not None and counts.sum() else None
    if isinstance(ref, NumericReference):
        edges = [f"{e:.3g}" for e in ref.bin_edges]
        labels = [f"<{edges[0]}", *edges] if edges else ["all"]
        return _bars(labels, ref.bin_probs, current)
    if isinstance(ref, CategoricalReference):
        return _bars([*ref.categories, OTHER], ref.shares, current)
    return ""


def _timeline(history: Sequence[tuple[float, Any]]) -> str:
    """The strongest window test divided by its threshold, per window; 1.0 is the alarm."""
    if not history:
        empty = '<text class="axis" x="10" y="20">no windows yet</text>'
        return f'<svg width="{_W}" height="{_H}">{empty}</svg>'
    ratios = [abs(r.value) / r.threshold if r.threshold > 0 else 0.0 for _, r in history]
    top = max(max(ratios), 1.5)
    step = (_W - 40) / max(len(ratios) - 1, 1)

    def y(v: float) -> float:
        return _H - 20 - (_H - 30) * v / top

    points = " ".join(f"{30 + i * step:.1f},{y(v):.1f}" for i, v in enumerate(ratios))
    last_x = 30 + (len(ratios) - 1) * step
    first, last = rfc3339(history[0][0])[11:19], rfc3339(history[-1][0])[11:19]
    return (
        f'<svg width="{_W}" height="{_H}" role="img" aria-label="statistic over time">'
        f'<line class="alarm" x1="30" x2="{_W - 10}" y1="{y(1.0):.1f}" y2="{y(1.0):.1f}"/>'
        f'<text class="axis" x="2" y="{y(1.0) + 3:.1f}">alarm</text>'
        f'<polyline class="line" points="{points}"/>'
        f'<circle class="cur" cx="{last_x:.1f}" cy="{y(ratios[-1]):.1f}" r="3"/>'
        f'<text class="axis" x="30" y="{_H - 6}">{first}</text>'
        f'<text class="axis" x="{_W - 10}" y="{_H - 6}" text-anchor="end">{last}</text></svg>'
    )


def _alert_rows(alerts: Sequence[AlertEvent]) -> str:
    rows = []
    for alert in alerts:
        d = alert.data
        css = ' class="firing"' if d.status == "firing" else ""
        rows.append(
            f"<tr><td>{d.observed_at}</td><td{css}>{d.status}</td><td>{d.severity}</td>"
            f"<td>{html.escape(d.summary)}</td></tr>"
        )
    if not rows:
        return '<p class="muted">No alerts.</p>'
    head = "<tr><th>observed at</th><th>status</th><th>severity</th><th>summary</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def render(engine: Engine, generated_at: str) -> str:
    """The whole page for one engine's model."""
    ranked = rank_series(engine)
    alerts = list(engine.recent_alerts)
    firing = sum(1 for _, s, _, _ in ranked if any(x.firing for x in s.lifecycles.values()))
    cards = []
    for key, series, ratio, stat in ranked[:TOP_SERIES]:
        where = segment_label(_segment(key))
        own = [a for a in alerts if a.data.feature == key[0] and a.data.segment == _segment(key)]
        live = bool(own) and own[-1].data.status == "firing"
        state = " <span class='firing'>firing</span>" if live else ""
        cards.append(
            f'<div class="card"><h3>{html.escape(key[0])} · {html.escape(where)}{state}</h3>'
            f'<div class="muted">strongest: {html.escape(stat or "-")} at {ratio:.2f}&times; its '
            f"threshold · {series.events:,} events</div><div class='charts'>"
            f"{_distribution(series)}{_timeline(series.history)}</div>"
            f"{_alert_rows(own[-5:])}</div>"
        )
    rows = "".join(
        f"<tr><td>{html.escape(k[0])}</td><td>{html.escape(segment_label(_segment(k)))}</td>"
        f"<td>{html.escape(stat or '-')}</td><td>{ratio:.2f}</td><td>{s.events:,}</td></tr>"
        for k, s, ratio, stat in ranked[:100]
    )
    model = html.escape(engine.config.model)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Drift report · {model}</title><style>{_CSS}</style></head><body>"
        f"<h1>Drift report · {model}</h1><div class='muted'>{engine.stats.events:,} events · "
        f"{len(ranked)} series · {firing} with firing alerts · generated {generated_at}. "
        f"Bars: reference (grey) vs latest window (blue). Lines: strongest window test ÷ its "
        f"threshold; above the dashed alarm line it fires.</div>"
        f"<h2>Most drifted series</h2><div class='grid'>{''.join(cards)}</div>"
        f"<h2>All series by drift</h2><table><tr><th>feature</th><th>segment</th>"
        f"<th>statistic</th><th>&times; threshold</th><th>events</th></tr>{rows}</table>"
        f"<h2>Alert timeline</h2>{_alert_rows(alerts[::-1][:200])}</body></html>"
    )
