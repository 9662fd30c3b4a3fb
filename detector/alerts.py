"""The alert contract: CloudEvents 1.0 (structured JSON mode) with a typed ``data`` payload.

The pydantic models here are the single source of ``schemas/alert.v1.schema.json`` (regenerate
with ``make schemas``; a test fails when the file is out of date). Alert ids and times are
derived from the stream (event times, series event counts), never from the wall clock, so the
same input gives byte-identical alerts from ``run`` and ``replay``, and a re-sent duplicate keeps
its ``id`` for consumers that deduplicate on (``source``, ``id``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

ALERT_TYPE = "io.driftdetector.alert.v1"
ALERT_SCHEMA_ID = "urn:io.driftdetector:schema:alert.v1"
CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
_MAX_DEDUP_KEY = 255  # PagerDuty's limit

Kind = Literal["drift", "quality", "performance"]
Status = Literal["firing", "resolved"]
Severity = Literal["critical", "warning", "info"]


def _datetime(description: str) -> Any:
    """An RFC 3339 string field; kept a string so the exact text is under our control."""
    return Field(description=description, json_schema_extra={"format": "date-time"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Model):
    """The events the statistic was computed on."""

    count: int = Field(ge=0)
    first_event_time: str = _datetime("Event time of the window's first event.")
    last_event_time: str = _datetime("Event time of the window's last event.")


class Summary(_Model):
    """A distribution summary: moments for numeric series, shares for categorical ones."""

    count: int = Field(ge=0)
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    p50: float | None = None
    max: float | None = None
    shares: dict[str, float] | None = None
    correlations: dict[str, float] | None = Field(
        None,
        description="The joint test's pairs (feature~feature) that moved most: correlations "
        "of their normal scores.",
    )


class AlertData(_Model):
    """What happened, where, how much, and since when."""

    model: str
    kind: Kind
    detector: str = Field(
        description="What decided: adwin, page_hinkley, a configured detector's name (e.g. "
        "river.KSWIN), a window test (psi, js, ks, "
        "wasserstein, chi_square) or a quality check (missing_rate, type_errors, out_of_range, "
        "constant, unseen_categories, segment_volume, schema)."
    )
    check: str | None = Field(
        None, description="The quality check this alert is about (kind quality), else null."
    )
    status: Status
    severity: Severity
    feature: str
    segment: dict[str, str] = Field(description="Segment name -> value; {} for all traffic.")
    observed_at: str = _datetime("Event time of the record that triggered this status.")
    started_at: str = _datetime("Event time at which this alert started firing.")
    statistic: str = Field(
        description="Name of the statistic in value, e.g. cusum_sd, psi, rate; "
        "drift_detected for a configured detector (value and threshold 1)."
    )
    value: float
    threshold: float = Field(
        description="What value had to exceed to fire (segment_volume and estimated_accuracy: "
        "fall below); for adwin, its delta."
    )
    estimated: bool = Field(
        False,
        description="True for estimated performance (detectors cbpe and dle): computed from "
        "predictions and a calibration before labels arrive, not measured on labels.",
    )
    window: Window
    reference: Summary
    current: Summary
    series_events: int = Field(ge=0, description="Events of this series seen at observed_at.")
    detections: int = Field(ge=1, description="Detections folded into this alert so far.")
    dedup_key: str = Field(max_length=_MAX_DEDUP_KEY)
    summary: str = Field(max_length=1024)


class AlertEvent(_Model):
    """A CloudEvents 1.0 envelope in structured mode; ``data`` is :class:`AlertData`."""

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: Literal["io.driftdetector.alert.v1"] = "io.driftdetector.alert.v1"
    subject: str
    time: str = _datetime("Same as data.observed_at.")
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: Literal["urn:io.driftdetector:schema:alert.v1"] = (
        "urn:io.driftdetector:schema:alert.v1"
    )
    data: AlertData


def alert_json_schema() -> dict[str, Any]:
    """The JSON Schema of one alert record value, as published in ``schemas/``."""
    schema = AlertEvent.model_json_schema()
    schema["$id"] = ALERT_SCHEMA_ID
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def rfc3339(epoch_seconds: float) -> str:
    """UTC RFC 3339 with milliseconds; never raises.

    The decoders reject event times outside 1970-2199 (``detector.events.TIME_END``), so alerts
    never carry one; should one get through, a time past what ``datetime`` holds (years 1 to
    9999) is clamped to the nearest end, NaN to the first, rather than crash the worker.

    >>> rfc3339(1767323045.5)
    '2026-01-02T03:04:05.500Z'
    >>> rfc3339(1e300), rfc3339(-1e300), rfc3339(float("nan"))
    ('9999-12-31T23:59:59.999Z', '0001-01-01T00:00:00.000Z', '0001-01-01T00:00:00.000Z')
    """
    try:
        moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        moment = (datetime.max if epoch_seconds > 0 else datetime.min).replace(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def segment_label(segment: dict[str, str]) -> str:
    """``all`` for all traffic, else ``name=value`` pairs joined by commas."""
    return ",".join(f"{k}={v}" for k, v in segment.items()) or "all"


def dedup_key(
    model: str, kind: str, feature: str, segment: dict[str, str], check: str | None = None
) -> str:
    """Stable identity of an alert: one per model, kind, feature, segment (and quality check).

    >>> dedup_key("fraud", "drift", "amount", {"country": "DE"})
    'fraud/drift/amount/country=DE'
    >>> dedup_key("fraud", "quality", "amount", {}, "missing_rate")
    'fraud/quality/amount/all/missing_rate'
    """
    key = f"{model}/{kind}/{feature}/{segment_label(segment)}"
    if check:
        key += f"/{check}"
    if len(key) <= _MAX_DEDUP_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: _MAX_DEDUP_KEY - 17]}~{digest}"


@dataclass
class Signal:
    """A status change of one series' alert, before model, feature and segment are attached."""

    position: int  # index into the series' input of the micro-batch
    status: Status
    kind: Kind
    detector: str
    statistic: str
    value: float
    threshold: float
    severity: Severity
    observed_at: float
    started_at: float
    window: Window
    reference: Summary
    current: Summary
    series_events: int
    detections: int
    headline: str  # what changed, for the summary sentence
    check: str | None = None  # quality check name; part of the dedup key
    estimated: bool = False  # an estimate from predictions (cbpe, dle), not from labels


@dataclass
class Lifecycle:
    """firing on the first detection, folded repeats, resolved after enough clean windows.

    The lifecycle of the alerts decided in Python: stream checks (:mod:`detector.stream_checks`)
    and performance series (:mod:`detector.labels.series`); also the type the feature series
    show their cores' lifecycles as. Those cores keep theirs in Rust (``Lifecycle`` in
    ``native/src``); ``tests/test_differential.py`` drives both through the same
    random windows and compares every status change.
    """

    firing: bool = False
    started_at: float = 0.0
    severity: Severity = "warning"
    detections: int = 0
    clean_windows: int = 0

    def detect(self, when: float, severity: Severity) -> bool:
        """Record a detection; True when it starts a new firing alert."""
        self.clean_windows = 0
        if self.firing:
            self.detections += 1
            return False
        self.firing, self.started_at, self.severity, self.detections = True, when, severity, 1
        return True

    def window_checked(self, consistent: bool, needed: int) -> bool:
        """Record a window while firing; True when it resolves the alert."""
        if not self.firing:
            return False
        self.clean_windows = self.clean_windows + 1 if consistent else 0
        if self.clean_windows >= needed:
            self.firing = False
            self.clean_windows = 0
            return True
        return False


def build_alert(model: str, feature: str, segment: dict[str, str], signal: Signal) -> AlertEvent:
    """Attach identity to a :class:`Signal` and wrap it in a CloudEvent."""
    key = dedup_key(model, signal.kind, feature, segment, signal.check)
    where = "all traffic" if not segment else f"segment {segment_label(segment)}"
    if signal.status == "resolved":
        sentence = (
            f"[{model}] {feature} in {where} is back in line with its reference "
            f"after {signal.detections} detection(s) since {rfc3339(signal.started_at)}: "
            f"{signal.headline}"
        )
    else:
        verbs = {"drift": "drifted", "performance": "got worse"}
        verb = verbs.get(signal.kind, f"failed {signal.check}")
        if signal.detector == "adwin":
            evidence = f"adwin, delta={signal.threshold:.3g}"
        elif signal.statistic == "drift_detected":  # a configured detector (plugins)
            evidence = f"{signal.detector}: drift detected"
        else:
            below = signal.check == "segment_volume" or signal.statistic == "estimated_accuracy"
            op = "<" if below else ">"  # volume: too few events; accuracy: too low
            evidence = (
                f"{signal.detector}, {signal.statistic}={signal.value:.3g} {op} "
                f"{signal.threshold:.3g}"
            )
        sentence = f"[{model}] {feature} {verb} in {where}: {signal.headline} ({evidence})"
    ident = hashlib.sha256(f"{key}|{signal.status}|{signal.series_events}".encode()).hexdigest()
    data = AlertData(
        model=model,
        kind=signal.kind,
        detector=signal.detector,
        check=signal.check,
        status=signal.status,
        severity=signal.severity,
        feature=feature,
        segment=segment,
        observed_at=rfc3339(signal.observed_at),
        started_at=rfc3339(signal.started_at),
        statistic=signal.statistic,
        value=signal.value,
        threshold=signal.threshold,
        estimated=signal.estimated,
        window=signal.window,
        reference=signal.reference,
        current=signal.current,
        series_events=signal.series_events,
        detections=signal.detections,
        dedup_key=key,
        summary=sentence[:1024],
    )
    return AlertEvent(
        id=ident[:32],
        source=f"/drift-detector/{model}",
        subject=f"{feature}/{segment_label(segment)}",
        time=data.observed_at,
        data=data,
    )


def alert_bytes(alert: AlertEvent) -> bytes:
    """The record value of an alert: compact JSON (CloudEvents structured mode)."""
    return orjson.dumps(alert.model_dump(mode="json"))
