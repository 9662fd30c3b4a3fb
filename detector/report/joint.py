"""The report's joint section: multivariate drift per segment (:mod:`detector.joint`).

Present when the config turns the joint test on. Per joint unit (all traffic first): its
events, whether it still warms up, the latest tested window's ``max_pair_z`` against its level
and their ratio, the pairs that moved most in that window (reference and window correlations
of normal scores, and z), each tested window's ratio over event time (the last 240), whether its
alert fires, and its recent alerts.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from detector.alerts import rfc3339
from detector.engine import Engine
from detector.joint import FEATURE
from detector.report.charts import TIMES, fmt_number, fmt_ratio, series_chart
from detector.report.performance import anchor

UNIT_ALERTS = 10


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def joint_section(engine: Engine, alerts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The joint section (``alerts``: the report's alert dicts, newest first), or None when
    the joint test is off."""
    context = engine.units.joint_context
    if context is None:
        return None
    units = []
    items = sorted(list(engine.joint.items()), key=lambda kv: (kv[0][1] is not None, kv[0][1:]))
    for (_, dimension, value), unit in items:
        name = "all" if dimension is None else f"{dimension}={value}"
        threshold = context.threshold
        tested = bool(unit.history)
        life = unit.lifecycle
        units.append(
            {
                "id": anchor("joint", name),
                "segment": name,
                "events": unit.events,
                "warming_up": unit.reference is None,
                "statistic": _number(unit.last_statistic) if tested else None,
                "threshold": threshold,
                "ratio": _number(unit.last_statistic / threshold) if tested else None,
                "firing": (
                    {"since": rfc3339(life.started_at), "severity": life.severity}
                    if life.firing
                    else None
                ),
                "pairs": [
                    {"pair": f"{a}~{b}", "reference": ref, "current": now, "z": _number(z)}
                    for a, b, ref, now, z in unit.last_pairs
                ],
                "windows": [
                    {"time": rfc3339(t), "ratio": _number(s / threshold)} for t, s in unit.history
                ],
                "alerts": [a for a in alerts if a["feature"] == FEATURE and a["segment"] == name][
                    :UNIT_ALERTS
                ],
            }
        )
    return {"fields": list(context.names), "window": context.window, "units": units}


def joint_html(section: dict[str, Any], alerts_html: Any) -> str:
    """The section's HTML: one card per unit (``alerts_html`` renders an alert list)."""
    cards = []
    for unit in section["units"]:
        ratio = unit["ratio"]
        state = "warming up" if unit["warming_up"] else "no tested window yet"
        shown = f"{fmt_ratio(ratio)}{TIMES} its alarm level" if ratio is not None else state
        firing = unit["firing"]
        status = (
            f"<span class='firing'>firing since {escape(firing['since'])} "
            f"({escape(firing['severity'])})</span>"
            if firing
            else "not firing"
        )
        rows = "".join(
            f"<tr><td>{escape(p['pair'])}</td><td class='n'>{fmt_number(p['reference'])}</td>"
            f"<td class='n'>{fmt_number(p['current'])}</td>"
            f"<td class='n'>{fmt_number(p['z'])}</td></tr>"
            for p in unit["pairs"]
        )
        table = (
            "<table class='pairs'><tr><th>pair</th><th>reference r</th><th>latest window r</th>"
            f"<th>z</th></tr>{rows}</table>"
        )
        chart = series_chart(
            [w["time"] for w in unit["windows"]],
            [w["ratio"] for w in unit["windows"]],
            y_title="÷ alarm level",
            log=True,
            now=(ratio, "max_pair_z") if ratio is not None else None,
        )
        colour = "over" if firing or (ratio or 0.0) >= 1 else "calm"
        cards.append(
            f"<details class='card {colour}' id='{unit['id']}' data-name='joint "
            f"{escape(unit['segment'])}' open><summary><b>joint · {escape(unit['segment'])}</b>"
            f" · {shown} · {status}</summary><div class='muted'>{unit['events']:,} events</div>"
            f"<div class='charts'>{chart}</div>{table}<h4>Alerts</h4>"
            f"{alerts_html(unit['alerts'])}</details>"
        )
    fields = ", ".join(escape(f) for f in section["fields"])
    return (
        f"<h2>Joint drift</h2><div class='muted'>Correlations of the normal scores of {fields}, "
        f"tested every {section['window']:,} events per segment: the largest pair |z| against "
        f"its level (1{TIMES} = alerts). Pairs: the latest window's largest changes.</div>"
        f"{''.join(cards)}"
    )
