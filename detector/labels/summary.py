"""The ``labels`` block of the ``run`` and ``replay`` summaries, from the performance monitor.

>>> from detector.config import parse_config
>>> from detector.labels.monitor import PerformanceMonitor
>>> from detector.testing.labelled import LabelledStream
>>> monitor = PerformanceMonitor(parse_config(LabelledStream().config()), alpha=1e-6)
>>> labels_summary(monitor, 0)["matched"]
0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detector.labels.monitor import PerformanceMonitor
from detector.labels.series import ERROR, VS_REST


def labels_summary(
    monitor: PerformanceMonitor | None, records: int, rejected: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """Label records and rejections, the join's counters, all traffic's metrics over every
    pair so far, the segments whose performance alerts are firing, and the estimate's method
    and firing segments, or why it is off (``monitor``: the engine's performance unit, None
    without a label section)."""
    out: dict[str, Any] = {"records": records, "rejected": dict(rejected or {})}
    if monitor is None:
        return out
    out.update(monitor.stats.as_dict())
    everything = monitor.series.get((None, None))
    out["metrics"] = everything.total_metrics() if everything is not None else {}
    firing: dict[str, list[str]] = {ERROR: [], VS_REST: []}
    for (dimension, value), series in monitor.series.items():
        name = "all" if dimension is None else f"{dimension}={value}"
        for key, names in firing.items():
            if series.lifecycles[key].firing:
                names.append(name)
    out["firing"] = {key: sorted(names) for key, names in firing.items()}
    estimate = monitor.context.estimate
    if estimate is None:
        out["estimate"] = {"off": monitor.context.estimate_off}
    else:
        out["estimate"] = {
            "method": estimate.calibration.method,
            "calibration": estimate.calibration.source,
            "firing": sorted(
                "all" if d is None else f"{d}={v}"
                for (d, v), series in monitor.estimates.items()
                if series.lifecycle.firing
            ),
        }
    return out
