"""The report's performance section: realised model metrics from delayed labels.

Present when the engine joins labels (a ``label:`` section, and ``report --labels`` or a
worker with ``topics.labels``): the join's counters, then per segment (all traffic first) the
metrics over every pair so far, the latest closed window's, each closed window's (at most the
series' last 240, with the window's last event time) and whether its ``error`` (concept drift)
or ``error_vs_rest`` (worse than the rest of the traffic) alert fires.
"""

from __future__ import annotations

import math
from typing import Any

from detector.alerts import rfc3339
from detector.engine import Engine
from detector.labels.series import ERROR, VS_REST


def _metrics(values: dict[str, float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, value in sorted(values.items()):
        x = float(value)
        out[name] = x if math.isfinite(x) else None
    return out


def anchor(prefix: str, text: str) -> str:
    """An HTML id: ``prefix-`` then ``text`` with every character outside ``[A-Za-z0-9._=-]``
    written as ``~``, its code point in hex, ``~`` (so distinct texts keep distinct ids)."""
    safe = (c if c.isascii() and (c.isalnum() or c in "._=-") else f"~{ord(c):x}~" for c in text)
    return f"{prefix}-{''.join(safe)}"


def performance_section(engine: Engine) -> dict[str, Any] | None:
    """The performance section, or None when the engine has no labels to join."""
    monitor = engine.performance
    if monitor is None:
        return None
    config = engine.config.performance
    segments = []
    items = sorted(
        list(monitor.series.items()),
        key=lambda kv: (kv[0][0] is not None, kv[0][0] or "", kv[0][1] or ""),
    )
    for (dimension, value), series in items:
        name = "all" if dimension is None else f"{dimension}={value}"
        segments.append(
            {
                "id": anchor("performance", name),
                "segment": name,
                "pairs": series.pairs,
                "errors": series.errors,
                "total": _metrics(series.total_metrics()),
                "latest": _metrics(series.last_metrics),
                "firing": {
                    key: {"since": rfc3339(life.started_at), "severity": life.severity}
                    for key, life in series.lifecycles.items()
                    if life.firing and key in (ERROR, VS_REST)
                },
                "windows": [
                    {"time": rfc3339(t), "metrics": _metrics(m)} for t, m in list(series.history)
                ],
            }
        )
    return {
        "label_type": engine.config.label.type if engine.config.label is not None else None,
        "window": config.window,
        "window_seconds": config.window_seconds,
        "join": dict(monitor.stats.as_dict()),
        "segments": segments,
    }
