"""The report's content as one JSON-able dict: the HTML page and ``--json`` are both rendered
from it (docs/report.md documents its schema, :mod:`detector.report.schema` holds it).

Every series is ranked by its *alarm ratio*: the statistic its detectors compare, divided by
the level that would alert (:func:`detector.observability.series_stats.drift_alarm`, read from
the core's own last window and Page-Hinkley state: the levels already carry the core's test
budget, dependence inflation and, for seasonal series, adjusted values). Above 1 the drift
alert has fired, so a series shows a ratio of 1 or more only while its drift alert fires.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detector.alerts import AlertEvent, rfc3339, segment_label
from detector.baseline import SeriesKey
from detector.engine import Engine
from detector.observability.series_stats import alarm_statistics, drift_alarm
from detector.reference import OTHER, CategoricalReference, NumericReference
from detector.report.joint import joint_section
from detector.report.performance import anchor, performance_section

SCHEMA = "kafka-drift-detector/report/v1"
SERIES_ALERTS = 10  # recent alerts kept per series
TIMELINE_ALERTS = 200
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
NO_MARGIN = {
    "numeric": "adwin",  # decides inside the core without exposing how close it is
}


def number(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN or infinity)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def series_id(key: SeriesKey) -> str:
    """The HTML anchor of a series: ``series-FEATURE`` or ``series-FEATURE.DIM=VALUE``, every
    character outside ``[A-Za-z0-9._=-]`` written as its code point in hex between ``~``."""
    text = key[0] if key[1] is None or key[2] is None else f"{key[0]}.{key[1]}={key[2]}"
    return anchor("series", text)


def _segment(key: SeriesKey) -> dict[str, str]:
    return {} if key[1] is None or key[2] is None else {key[1]: key[2]}


def _alarm_dict(alarm: Any) -> dict[str, Any]:
    return {
        "statistic": alarm.statistic,
        "detector": alarm.detector,
        "value": number(alarm.value),
        "threshold": number(alarm.threshold),
        "ratio": number(alarm.ratio),
    }


def _alert_dict(alert: AlertEvent) -> dict[str, Any]:
    d = alert.data
    return {
        "observed_at": d.observed_at,
        "status": d.status,
        "severity": d.severity,
        "kind": d.kind,
        "feature": d.feature,
        "segment": segment_label(d.segment),
        "detector": d.detector,
        "summary": d.summary,
    }


def _histogram(series: Any, feature: str) -> dict[str, Any] | None:
    """Reference shares against the latest tested window's, per bin or category."""
    ref = series.reference
    counts = series.last_counts
    total = int(counts.sum()) if counts is not None else 0
    current = (counts / total).tolist() if counts is not None and total else None
    bins = []
    if isinstance(ref, NumericReference):
        edges = [float(e) for e in ref.bin_edges]
        bounds = list(zip([None, *edges], [*edges, None], strict=True))
        for i, ((low, high), share) in enumerate(zip(bounds, ref.bin_probs, strict=True)):
            label = (
                "all"
                if low is None and high is None
                else f"< {high:.4g}"
                if low is None
                else f">= {low:.4g}"
                if high is None
                else f"{low:.4g} to {high:.4g}"
            )
            bins.append(
                {
                    "label": label,
                    "low": low,
                    "high": high,
                    "reference": number(share),
                    "current": number(current[i]) if current else None,
                }
            )
        adjusted = ", seasonally adjusted" if ref.season is not None else ""
        x_label, y_label = f"{feature} (reference decile bins{adjusted})", "share of values"
    elif isinstance(ref, CategoricalReference):
        names = [*ref.categories, OTHER]
        for i, (name, share) in enumerate(zip(names, ref.shares, strict=True)):
            label = "other categories" if name == OTHER else name
            bins.append(
                {
                    "label": label,
                    "reference": number(share),
                    "current": number(current[i]) if current else None,
                }
            )
        x_label, y_label = "share of values", f"{feature} category"
    else:
        return None
    return {
        "kind": "bins" if isinstance(ref, NumericReference) else "categories",
        "x_label": x_label,
        "y_label": y_label,
        "current_count": total or None,
        "bins": bins,
    }


def _reference(series: Any) -> dict[str, Any]:
    ref = series.reference
    out: dict[str, Any] = {
        "count": int(ref.count),
        "events": int(ref.events),
        "missing_rate": number(ref.missing_rate),
        "type_error_rate": number(ref.type_error_rate),
        "dependence": number(getattr(series, "dependence", ref.dependence)),
    }
    if isinstance(ref, NumericReference):
        grid = np.linspace(0.0, 1.0, len(ref.quantiles))
        out.update(mean=number(ref.mean), std=number(ref.std), min=number(ref.min))
        out["quantiles"] = {
            f"p{round(q * 100)}": number(np.interp(q, grid, ref.quantiles)) for q in QUANTILES
        }
        out["max"] = number(ref.max)
        out["season"] = ref.season.name if ref.season is not None else None
    else:
        names = [*ref.categories, OTHER]
        top = sorted(zip(names, ref.shares.tolist(), strict=True), key=lambda c: -c[1])
        out["top"] = [{"category": c, "share": number(s)} for c, s in top if c != OTHER][:10]
        out["other_share"] = number(ref.shares[-1])
        out["unseen_rate"] = number(ref.unseen_rate)
    return out


def _quality(series: Any, firing: dict[str, Any]) -> dict[str, Any]:
    events = series.events
    checks = [
        {**_alarm_dict(a), "firing": a.statistic in firing}
        for a in alarm_statistics(series).values()
        if a.kind == "quality"
    ]
    return {
        "events": events,
        "missing_rate": series.missing / events if events else None,
        "type_error_rate": series.type_errors / events if events else None,
        "checks": checks,
    }


def _firing(series: Any) -> dict[str, Any]:
    """Alert key (``drift`` or a check) -> when it started and how severe, for firing ones."""
    return {
        key: {"since": rfc3339(life.started_at), "severity": life.severity}
        for key, life in series.lifecycles.items()
        if life.firing
    }


def series_entry(key: SeriesKey, series: Any, alerts: list[AlertEvent]) -> dict[str, Any]:
    """One series' section of the report."""
    segment = _segment(key)
    kind = "numeric" if isinstance(series.reference, NumericReference) else "categorical"
    firing = _firing(series)
    alarm = drift_alarm(series)
    drift = [_alarm_dict(a) for a in alarm_statistics(series).values() if a.kind == "drift"]
    if kind in NO_MARGIN:
        drift.append(
            {
                "statistic": None,
                "detector": NO_MARGIN[kind],
                "value": None,
                "threshold": None,
                "ratio": None,
            }
        )
    own = [
        a
        for a in alerts
        if a.data.kind != "performance" and a.data.feature == key[0] and a.data.segment == segment
    ]
    season = getattr(series.reference, "season", None)
    return {
        "id": series_id(key),
        "feature": key[0],
        "segment": segment,
        "segment_label": segment_label(segment),
        "type": kind,
        "events": series.events,
        "adjusted_for": season.name if season is not None else None,
        "alarm": _alarm_dict(alarm) if alarm is not None else None,
        "firing": firing,
        "detectors": drift,
        "history": [
            {
                "time": rfc3339(t),
                "statistic": r.name,
                "value": number(r.value),
                "threshold": number(r.threshold),
                "ratio": number(r.value / r.threshold) if r.threshold > 0 else None,
            }
            for t, r in series.history
        ],
        "histogram": _histogram(series, key[0]),
        "quality": _quality(series, firing),
        "reference": _reference(series),
        "alerts": [_alert_dict(a) for a in own[-SERIES_ALERTS:][::-1]],
    }


def _rank(entry: dict[str, Any]) -> tuple[float, bool, str, str]:
    ratio = (entry["alarm"] or {}).get("ratio") or 0.0
    return (-ratio, "drift" not in entry["firing"], entry["feature"], entry["segment_label"])


def build(engine: Engine, generated_at: str) -> dict[str, Any]:
    """The whole report of one engine's model, series ranked by alarm ratio."""
    alerts = list(engine.recent_alerts)
    entries = [
        series_entry(key, series, alerts)
        for key, series in list(engine.series.items())
        if series.reference is not None
    ]
    entries.sort(key=_rank)
    warming = sum(1 for s in list(engine.series.values()) if s.reference is None)
    timeline = [_alert_dict(a) for a in alerts[::-1]]
    return {
        "schema": SCHEMA,
        "model": engine.config.model,
        "generated_at": generated_at,
        "events": engine.stats.events,
        "series_warming_up": warming,
        "firing_series": sum(1 for e in entries if e["firing"]),
        "series": entries,
        "alerts": timeline[:TIMELINE_ALERTS],
        "performance": performance_section(engine),
        "joint": joint_section(engine, timeline),
    }
