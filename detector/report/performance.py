"""The report's performance section: realised model metrics from delayed labels.

Present when the engine joins labels (a ``label:`` section, and ``report --labels`` or a
worker with ``topics.labels``): the join's counters, then per segment (all traffic first) the
metrics over every pair so far, the latest closed window's, each closed window's (at most the
series' last 240, with the window's last event time) and whether its ``error`` (concept drift)
or ``error_vs_rest`` (worse than the rest of the traffic) alert fires. With estimated
performance (docs/estimated-performance.md), each segment's ``estimate`` holds the estimate
windows the same way (``latest``, ``windows``, and its method, cbpe or dle), next to the
realised metrics of the same names; a segment with predictions but no labels yet has only it.
"""

from __future__ import annotations

import math
from typing import Any

from detector.alerts import rfc3339
from detector.engine import Engine
from detector.labels.estimate import FEATURE as ESTIMATED
from detector.labels.estimate import EstimateSeries
from detector.labels.series import ERROR, VS_REST, PerformanceSeries


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
    keys = sorted(
        {*list(monitor.series), *list(monitor.estimates)},
        key=lambda k: (k[0] is not None, k[0] or "", k[1] or ""),
    )
    for key in keys:
        dimension, value = key
        name = "all" if dimension is None else f"{dimension}={value}"
        series = monitor.series.get(key)
        estimate = monitor.estimates.get(key)
        segments.append(
            {
                "id": anchor("performance", name),
                "segment": name,
                **_realised(series),
                "estimate": _estimate(estimate),
            }
        )
        if estimate is not None and estimate.lifecycle.firing:
            life = estimate.lifecycle
            segments[-1]["firing"][ESTIMATED] = {
                "since": rfc3339(life.started_at),
                "severity": life.severity,
            }
    return {
        "label_type": engine.config.label.type if engine.config.label is not None else None,
        "window": config.window,
        "window_seconds": config.window_seconds,
        "join": dict(monitor.stats.as_dict()),
        "segments": segments,
    }


def _realised(series: PerformanceSeries | None) -> dict[str, Any]:
    if series is None:  # predictions, no labels yet
        return {"pairs": 0, "errors": 0, "total": {}, "latest": {}, "firing": {}, "windows": []}
    return {
        "pairs": series.pairs,
        "errors": series.errors,
        "total": _metrics(series.total_metrics()),
        "latest": _metrics(series.last_metrics),
        "firing": {
            key: {"since": rfc3339(life.started_at), "severity": life.severity}
            for key, life in series.lifecycles.items()
            if life.firing and key in (ERROR, VS_REST)
        },
        "windows": [{"time": rfc3339(t), "metrics": _metrics(m)} for t, m in list(series.history)],
    }


def _estimate(estimate: EstimateSeries | None) -> dict[str, Any] | None:
    if estimate is None or estimate.context.estimate is None:
        return None
    return {
        "method": estimate.context.estimate.calibration.method,
        "predictions": estimate.predictions,
        "latest": _metrics(estimate.last_metrics),
        "windows": [
            {"time": rfc3339(t), "metrics": _metrics(m)} for t, m in list(estimate.history)
        ],
    }
