"""The JSON Schema (draft 2020-12) of ``report --json`` and ``Monitor.report().json``.

docs/report.md explains each field; tests validate real reports against :data:`SCHEMA`.
"""

from __future__ import annotations

from typing import Any

NUM = {"type": ["number", "null"]}
STR = {"type": "string"}
TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"}


def _object(properties: dict[str, Any], nullable: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": ["object", "null"] if nullable else "object",
        "required": sorted(properties),
        "properties": properties,
    }
    return out


FIRING = {
    "type": "object",
    "description": "Firing alerts: drift or a quality check -> since (event time), severity.",
    "additionalProperties": _object({"since": TIME, "severity": STR}),
}
ALARM = _object(
    {
        "statistic": {"type": ["string", "null"]},
        "detector": STR,
        "value": NUM,
        "threshold": NUM,
        "ratio": {**NUM, "description": "value / threshold: above 1 it has fired."},
    }
)
ALERT = _object(
    {
        "observed_at": TIME,
        "status": {"enum": ["firing", "resolved"]},
        "severity": STR,
        "kind": STR,
        "feature": STR,
        "segment": STR,
        "detector": STR,
        "summary": STR,
    }
)
BIN = {
    "type": "object",
    "required": ["label", "reference", "current"],
    "properties": {"label": STR, "low": NUM, "high": NUM, "reference": NUM, "current": NUM},
}
SERIES = _object(
    {
        "id": {"type": "string", "pattern": "^series-"},
        "feature": STR,
        "segment": {"type": "object", "additionalProperties": STR},
        "segment_label": STR,
        "type": {"enum": ["numeric", "categorical"]},
        "events": {"type": "integer"},
        "adjusted_for": {"type": ["string", "null"]},
        "alarm": {"anyOf": [ALARM, {"type": "null"}]},
        "firing": FIRING,
        "detectors": {"type": "array", "items": ALARM},
        "history": {
            "type": "array",
            "items": _object(
                {"time": TIME, "statistic": STR, "value": NUM, "threshold": NUM, "ratio": NUM}
            ),
        },
        "histogram": _object(
            {
                "kind": {"enum": ["bins", "categories"]},
                "x_label": STR,
                "y_label": STR,
                "current_count": {"type": ["integer", "null"]},
                "bins": {"type": "array", "items": BIN},
            },
            nullable=True,
        ),
        "quality": _object(
            {
                "events": {"type": "integer"},
                "missing_rate": NUM,
                "type_error_rate": NUM,
                "checks": {
                    "type": "array",
                    "items": {**ALARM, "required": [*ALARM["required"], "firing"]},
                },
            }
        ),
        "reference": {
            "type": "object",
            "required": ["count", "events", "missing_rate", "type_error_rate"],
            "properties": {"count": {"type": "integer"}, "events": {"type": "integer"}},
        },
        "alerts": {"type": "array", "items": ALERT},
    }
)
METRICS = {"type": "object", "additionalProperties": NUM}
METRIC_WINDOWS = {"type": "array", "items": _object({"time": TIME, "metrics": METRICS})}
PERFORMANCE = _object(
    {
        "label_type": {"type": ["string", "null"]},
        "window": {"type": "integer"},
        "window_seconds": NUM,
        "join": {"type": "object", "additionalProperties": {"type": "integer"}},
        "segments": {
            "type": "array",
            "items": _object(
                {
                    "id": {"type": "string", "pattern": "^performance-"},
                    "segment": STR,
                    "pairs": {"type": "integer"},
                    "errors": {"type": "integer"},
                    "total": METRICS,
                    "latest": METRICS,
                    "firing": FIRING,
                    "windows": METRIC_WINDOWS,
                    "estimate": _object(
                        {
                            "method": {"enum": ["cbpe", "dle"]},
                            "predictions": {"type": "integer"},
                            "latest": METRICS,
                            "windows": METRIC_WINDOWS,
                        },
                        nullable=True,
                    ),
                }
            ),
        },
    },
    nullable=True,
)
JOINT = _object(
    {
        "fields": {"type": "array", "items": STR},
        "window": {"type": "integer"},
        "units": {
            "type": "array",
            "items": _object(
                {
                    "id": {"type": "string", "pattern": "^joint-"},
                    "segment": STR,
                    "events": {"type": "integer"},
                    "warming_up": {"type": "boolean"},
                    "statistic": NUM,
                    "threshold": NUM,
                    "ratio": NUM,
                    "firing": _object({"since": TIME, "severity": STR}, nullable=True),
                    "pairs": {
                        "type": "array",
                        "items": _object({"pair": STR, "reference": NUM, "current": NUM, "z": NUM}),
                    },
                    "windows": {"type": "array", "items": _object({"time": TIME, "ratio": NUM})},
                    "alerts": {"type": "array", "items": ALERT},
                }
            ),
        },
    },
    nullable=True,
)
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "kafka-drift-detector report v1",
    **_object(
        {
            "schema": {"const": "kafka-drift-detector/report/v1"},
            "model": STR,
            "generated_at": STR,
            "events": {"type": "integer"},
            "series_warming_up": {"type": "integer"},
            "firing_series": {"type": "integer"},
            "series": {"type": "array", "items": SERIES},
            "alerts": {"type": "array", "items": ALERT},
            "performance": PERFORMANCE,
            "joint": JOINT,
        }
    ),
}
