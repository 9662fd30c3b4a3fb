"""Inline SVG charts of the report, drawn from its data dict (:mod:`detector.report.data`).

Every chart has titled axes. Tick labels are placed left to right and a label is left out when
its estimated width would reach the one before (the full values stay in each bar's tooltip and
in the JSON), so no two labels overlap; time axes show the ISO date over the UTC time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

W = 460  # chart width in px
TIMES = "\u00d7"  # the multiplication sign after a ratio
CHAR = 6.3  # estimated width of a character of the 10px axis font (digits are about 5.6)
TITLE_CHAR = 6.9  # the same for the 11px axis titles


def fmt_ratio(ratio: float | None) -> str:
    """A ratio rounded down to two decimals: 0.999 is "0.99", never "1.00", so a series shows
    1 or more only when its statistic is past the level."""
    if ratio is None:
        return "n/a"
    return f"{math.floor(ratio * 100) / 100:.2f}"


def fmt_share(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def fmt_number(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _text(
    x: float, y: float, body: str, css: str = "axis", anchor: str = "start", extra: str = ""
) -> str:
    return (
        f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>'
        f"{escape(body)}</text>"
    )


def _fit(text: str, px: float, char: float = TITLE_CHAR) -> str:
    most = max(int(px / char), 4)
    return text if len(text) <= most else text[: most - 1] + "…"


def thin(positions: Sequence[float], widths: Sequence[float], low: float, high: float) -> list[int]:
    """Indexes of centred labels that fit in [low, high] without touching the previous one."""
    shown, right = [], low - 1e9
    for i, (x, w) in enumerate(zip(positions, widths, strict=True)):
        if x - w / 2 >= max(right + 6, low - 2) and x + w / 2 <= high + 2:
            shown.append(i)
            right = x + w / 2
    return shown


def _legend(x: float, y: float, items: Sequence[tuple[str, str]]) -> str:
    parts = []
    for css, label in items:
        parts.append(f'<rect class="{css}" x="{x:.1f}" y="{y - 8:.1f}" width="10" height="10"/>')
        parts.append(_text(x + 14, y, label))
        x += 14 + len(label) * CHAR + 16
    return "".join(parts)


def _y_title(title: str, top: float, bottom: float) -> str:
    mid = (top + bottom) / 2
    body = escape(_fit(title, bottom - top))
    return (
        f'<text class="title" x="12" y="{mid:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {mid:.1f})">{body}</text>'
    )


def histogram(hist: dict[str, Any]) -> str:
    """Reference (grey) against the latest window (blue): bins or categories."""
    if hist["kind"] == "categories":
        return _category_bars(hist)
    bins, h = hist["bins"], 210
    left, right, top, bottom = 60, W - 14, 30, h - 48
    k = len(bins)
    shares = [b["reference"] or 0.0 for b in bins] + [b["current"] or 0.0 for b in bins]
    peak = max(max(shares), 1e-9)
    step = (right - left) / k
    parts = [_legend(left, 14, [("ref", "reference"), ("cur", _current(hist))])]
    for i, b in enumerate(bins):
        for j, (css, share) in enumerate((("ref", b["reference"]), ("cur", b["current"]))):
            if share is None:
                continue
            height = (bottom - top) * share / peak
            x = left + i * step + step * (0.08 + 0.43 * j)
            parts.append(
                f'<rect class="{css}" x="{x:.1f}" y="{bottom - height:.1f}" '
                f'width="{step * 0.41:.1f}" height="{height:.1f}"><title>{escape(b["label"])}: '
                f"{fmt_share(share)} ({'reference' if j == 0 else 'latest window'})</title></rect>"
            )
    edges = [b["low"] for b in bins[1:]]
    labels = [f"{e:.3g}" for e in edges]
    xs = [left + (i + 1) * step for i in range(len(edges))]
    for i in thin(xs, [len(t) * CHAR for t in labels], left, right):
        at = f"{xs[i]:.1f}"
        parts.append(f'<line class="tick" x1="{at}" x2="{at}" y1="{bottom}" y2="{bottom + 4}"/>')
        parts.append(_text(xs[i], bottom + 15, labels[i], anchor="middle"))
    parts += _share_ticks_y(peak, left, top, bottom)
    parts.append(_text((left + right) / 2, h - 8, _fit(hist["x_label"], W - 20), "title", "middle"))
    parts.append(_y_title(hist["y_label"], top, bottom))
    return _svg("histogram", h, parts, f"{bottom}", left, right)


def _current(hist: dict[str, Any]) -> str:
    n = hist.get("current_count")
    return f"latest window (n={n:,})" if n else "latest window (none yet)"


def _share_ticks_y(peak: float, left: float, top: float, bottom: float) -> list[str]:
    out = []
    for frac in (0.0, 0.5, 1.0):
        y = bottom - (bottom - top) * frac
        out.append(f'<line class="grid" x1="{left}" x2="{W - 14}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(_text(left - 6, y + 3.5, f"{peak * frac:.0%}", anchor="end"))
    return out


def _category_bars(hist: dict[str, Any]) -> str:
    bins, row = hist["bins"], 18
    left, right, top = 150, W - 14, 42
    bottom = top + row * len(bins)
    h = bottom + 38
    peak = max([b["reference"] or 0.0 for b in bins] + [b["current"] or 0.0 for b in bins] + [1e-9])
    scale = (right - left) / peak
    parts = [_legend(left, 14, [("ref", "reference"), ("cur", _current(hist))])]
    parts.append(_text(4, 32, _fit(hist["y_label"], W - 8), "title"))
    for i, b in enumerate(bins):
        y = top + i * row
        label = b["label"] if len(b["label"]) <= 20 else b["label"][:19] + "…"
        parts.append(_text(left - 6, y + 12, label, anchor="end"))
        for j, (css, share) in enumerate((("ref", b["reference"]), ("cur", b["current"]))):
            if share is None:
                continue
            parts.append(
                f'<rect class="{css}" x="{left}" y="{y + 2 + 7 * j}" width="{share * scale:.1f}" '
                f'height="6.5"><title>{escape(b["label"])}: {fmt_share(share)} '
                f"({'reference' if j == 0 else 'latest window'})</title></rect>"
            )
    for frac in (0.0, 0.5, 1.0):
        x = left + (right - left) * frac
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}"/>')
        anchor = "start" if frac == 0 else "end" if frac == 1 else "middle"
        parts.append(_text(x, bottom + 14, f"{peak * frac:.0%}", anchor=anchor))
    parts.append(_text((left + right) / 2, h - 6, hist["x_label"], "title", "middle"))
    return _svg("histogram", h, parts, str(bottom), left, right)


def _svg(
    css: str, h: float, parts: list[str], base: str, left: float, right: float, attrs: str = ""
) -> str:
    axis = f'<line class="axisline" x1="{left}" x2="{right}" y1="{base}" y2="{base}"/>'
    return (
        f'<svg class="{css}" width="{W}" height="{h:.0f}" viewBox="0 0 {W} {h:.0f}" role="img"'
        f"{attrs}>{axis}{''.join(parts)}</svg>"
    )


def time_axis(
    times: Sequence[str], xs: Sequence[float], left: float, right: float, y: float
) -> list[str]:
    """Ticks at the first, middle and last times (and more if room): ISO date over UTC time.
    A label that would cross the chart's edge is aligned to its tick instead of centred."""
    n = len(times)
    wanted = sorted({0, n - 1, *(round(i * (n - 1) / 4) for i in range(1, 4))}) if n else []
    width = 10 * CHAR
    # Centre of each label's box, kept inside the chart, and the anchor that puts it there.
    anchors = [
        "start" if xs[i] - width / 2 < 4 else "end" if xs[i] + width / 2 > W - 4 else "middle"
        for i in wanted
    ]
    shift = {"start": width / 2, "end": -width / 2, "middle": 0.0}
    centres = [xs[i] + shift[a] for i, a in zip(wanted, anchors, strict=True)]
    out = []
    for k in thin(centres, [width] * len(wanted), 0, W):
        i, x, anchor = wanted[k], xs[wanted[k]], anchors[k]
        date, clock = times[i][:10], times[i][11:19] + "Z"
        out.append(
            f'<text class="axis" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">'
            f'<tspan x="{x:.1f}">{date}</tspan>'
            f'<tspan x="{x:.1f}" dy="12">{clock}</tspan></text>'
        )
    return out


def series_chart(
    times: Sequence[str],
    values: Sequence[float | None],
    *,
    y_title: str,
    log: bool,
    now: tuple[float, str] | None = None,
    css: str = "timeline",
) -> str:
    """Values over event time. ``log``: ratios on a log axis with the alarm level (1) dashed,
    and ``now`` (ratio, statistic) as the point the series' header shows."""
    h = 214
    left, right, top, bottom = 64, W - 16, 30, h - 58
    found = [v for v in values if v is not None] + ([now[0]] if now else [])
    peak = max(max(found, default=0.0), 1e-9) * 1.15
    lo = -2
    hi = max(1, math.ceil(math.log10(max(max(found, default=1.0), 1e-2) * 1.2)))

    def to_unit(v: float) -> float:
        if log:
            return (math.log10(max(v, 1e-2)) - lo) / (hi - lo)
        return v / peak

    if log:
        step = 1 if hi - lo <= 6 else 2
        ticks = [(10.0**d, f"{10.0**d:g}{TIMES}") for d in range(lo, hi + 1, step)]
    else:
        ticks = [(peak * f, f"{peak * f:.1%}") for f in (0.0, 0.5, 1.0)]

    def y(v: float) -> float:
        return bottom - (bottom - top) * min(max(to_unit(v), 0.0), 1.0)

    n = len(times)
    xs = [left + (right - left) * (i / (n - 1) if n > 1 else 1.0) for i in range(n)]
    parts = []
    for v, label in ticks:
        parts.append(
            f'<line class="grid" x1="{left}" x2="{right}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
        )
        parts.append(_text(left - 6, y(v) + 3.5, label, anchor="end"))
    if log:
        parts.append(
            f'<line class="alarm" x1="{left}" x2="{right}" y1="{y(1.0):.1f}" y2="{y(1.0):.1f}"/>'
        )
    points = " ".join(
        f"{x:.1f},{y(v):.1f}" for x, v in zip(xs, values, strict=True) if v is not None
    )
    if points:
        parts.append(f'<polyline class="line" points="{points}"/>')
    attrs = ""
    if now is not None:
        ratio, statistic = now
        parts.append(f'<circle class="now" cx="{right:.1f}" cy="{y(ratio):.1f}" r="4"/>')
        parts.append(
            _text(
                4,
                14,
                f"now {fmt_ratio(ratio)}{TIMES} ({statistic}) · line: strongest window test",
                "now",
            )
        )
        attrs = f' data-ratio="{ratio!r}"'
    if not n:
        parts.append(
            _text((left + right) / 2, (top + bottom) / 2, "no closed windows yet", anchor="middle")
        )
    parts += time_axis(times, xs, left, right, bottom + 14)
    parts.append(_text((left + right) / 2, h - 6, "event time (UTC)", "title", "middle"))
    parts.append(_y_title(y_title, top, bottom))
    return _svg(css, h, parts, str(bottom), left, right, attrs)
