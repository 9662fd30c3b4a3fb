"""The sinks' configuration, and the secrets in it.

A PagerDuty ``routing_key``, a Slack ``url`` (the URL is the credential) and webhook ``headers``
values are secrets: the file must hold ``${VAR}`` references (:func:`literal_secrets` finds the
ones that do not). ``check-config`` prints them redacted (:func:`detector.config.redact`).

>>> raw = {"sinks": {"pd": {"type": "pagerduty", "routing_key": "abc"},
...                  "hook": {"type": "webhook", "url": "http://h", "headers": {"X": "${T}"}}}}
>>> literal_secrets(raw)
['sinks.pd.routing_key']
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field

from detector.alerts import Severity
from detector.routing.fields import Duration, Strict, Url

SINK_TAGS = {"pagerduty", "alertmanager", "webhook", "slack"}
PagerDutySeverity = Literal["critical", "error", "warning", "info"]
_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$")
_DEFAULT_PD_SEVERITY: dict[Severity, PagerDutySeverity] = {
    "critical": "critical",
    "warning": "warning",
    "info": "info",
}


class _Sink(Strict):
    timeout: Duration | None = Field(None, description="Overrides delivery.timeout.")


class PagerDutySink(_Sink):
    type: Literal["pagerduty"]
    url: Url = "https://events.pagerduty.com/v2/enqueue"
    routing_key: str = Field(min_length=1, description="Integration key; from ${VAR} only.")
    source: str | None = Field(None, description="payload.source; default drift-detector/<model>")
    severity_map: dict[Severity, PagerDutySeverity] = Field(
        default_factory=lambda: dict(_DEFAULT_PD_SEVERITY)
    )


class AlertmanagerSink(_Sink):
    type: Literal["alertmanager"]
    url: Url = Field(description="Base URL, e.g. http://alertmanager:9093")
    resend_interval: Duration = Field(
        60.0, gt=0, description="Re-send firing alerts (must be below resolve_timeout)."
    )


class WebhookSink(_Sink):
    type: Literal["webhook"]
    url: Url
    headers: dict[str, str] = Field(default_factory=dict)


class SlackSink(_Sink):
    type: Literal["slack"]
    url: Url


SinkConfig = Annotated[
    PagerDutySink | AlertmanagerSink | WebhookSink | SlackSink, Field(discriminator="type")
]


def _secrets(sink: dict[str, Any]) -> dict[str, Any]:
    """A sink's secret fields (dotted path below the sink -> value) in a raw or dumped sink."""
    secrets: dict[str, Any] = {}
    if sink.get("type") == "pagerduty" and "routing_key" in sink:
        secrets["routing_key"] = sink["routing_key"]
    if sink.get("type") == "slack" and "url" in sink:
        secrets["url"] = sink["url"]
    headers = sink.get("headers")
    if isinstance(headers, dict):
        secrets.update({f"headers.{k}": v for k, v in headers.items()})
    return secrets


def _sinks(data: Any) -> dict[str, dict[str, Any]]:
    sinks = data.get("sinks") if isinstance(data, dict) else None
    if not isinstance(sinks, dict):
        return {}
    return {str(name): sink for name, sink in sinks.items() if isinstance(sink, dict)}


def literal_secrets(data: Any) -> list[str]:
    """Paths of secret values written literally in the raw (uninterpolated) YAML."""
    return [
        f"sinks.{name}.{field}"
        for name, sink in _sinks(data).items()
        for field, value in _secrets(sink).items()
        if isinstance(value, str) and not _ENV_REF.match(value)
    ]
