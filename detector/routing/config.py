"""The router's YAML configuration (``drift-detector route --config FILE``).

Same rules as the detector's config: ``${VAR}`` / ``${VAR:-default}`` from the environment in
values, unknown keys are errors, and every error names its field. On top of that, secrets must
not be written into the file: a PagerDuty ``routing_key``, a Slack ``url`` (the URL is the
credential) and webhook ``headers`` values must be ``${VAR}`` references.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from detector.alerts import Kind, Severity
from detector.config import interpolate, read_yaml
from detector.errors import ConfigError

PagerDutySeverity = Literal["critical", "error", "warning", "info"]
GroupLabel = Literal["model", "kind", "feature", "segment", "severity"]
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$")
_PLACEHOLDERS = {"model", "kind", "feature", "segment"}
_DEFAULT_GROUP_BY: tuple[GroupLabel, ...] = ("model", "kind")
_DEFAULT_PD_SEVERITY: dict[Severity, PagerDutySeverity] = {
    "critical": "critical",
    "warning": "warning",
    "info": "info",
}
_NAME = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
_URL = Annotated[str, Field(pattern=r"^https?://\S+$")]


def seconds(value: Any) -> Any:
    """``30``, ``"30s"``, ``"500ms"``, ``"5m"``, ``"4h"`` or ``"1d"`` as seconds.

    >>> seconds("5m"), seconds(2.5), seconds("250ms")
    (300.0, 2.5, 0.25)
    """
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration like 30s, 5m or 4h")
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return value


Duration = Annotated[float, BeforeValidator(seconds), Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RouterTopics(_Strict):
    """The alerts topic to read and the router's own topics."""

    alerts: str = Field(min_length=1, description="Alert CloudEvents written by the detector.")
    dead_letter: str = Field(min_length=1, description="Notifications a sink rejected (4xx).")
    state: str = Field(min_length=1, description="Compacted topic holding the router's state.")
    silences: str = Field(min_length=1, description="Compacted topic of silences.")
    create_missing: bool = True


class GroupingConfig(_Strict):
    """Noise control before delivery (Alertmanager's names and meanings where they exist)."""

    group_by: list[GroupLabel] = Field(
        default_factory=lambda: list(_DEFAULT_GROUP_BY), min_length=1
    )
    group_wait: Duration = Field(30.0, description="Wait for more alerts before the first page.")
    group_interval: Duration = Field(300.0, description="Minimum time between group updates.")
    repeat_interval: Duration = Field(
        14_400.0, description="Re-send a still-firing group this often; 0 disables."
    )
    flap_window: Duration = Field(
        600.0, description="A resolution takes effect only if the series stays resolved this long."
    )

    @model_validator(mode="after")
    def _model_and_kind(self) -> GroupingConfig:
        if not {"model", "kind"} <= set(self.group_by):
            raise ValueError("group_by must include model and kind (one incident never mixes them)")
        return self


class GroupingOverride(_Strict):
    """A route's changes to the top-level grouping; unset keys are inherited."""

    group_by: list[GroupLabel] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    flap_window: Duration | None = None


class DeliveryConfig(_Strict):
    """Retries of transient failures (429, 5xx, timeouts): forever, with backoff and jitter."""

    initial_backoff: Duration = 1.0
    max_backoff: Duration = 120.0
    timeout: Duration = Field(10.0, gt=0, description="HTTP timeout per request.")


class ModelLinks(_Strict):
    """What to look at next, per model. ``{model}``, ``{kind}``, ``{feature}``, ``{segment}``."""

    runbook: str | None = None
    report: str | None = None
    hint: str | None = Field(None, max_length=500, description="One line for the on-call.")

    @model_validator(mode="after")
    def _placeholders(self) -> ModelLinks:
        for text in (self.runbook, self.report):
            names = {f for _, f, _, _ in string.Formatter().parse(text or "") if f is not None}
            if names - _PLACEHOLDERS:
                raise ValueError(f"unknown placeholder(s) {sorted(names - _PLACEHOLDERS)}")
        return self


class _Sink(_Strict):
    timeout: Duration | None = Field(None, description="Overrides delivery.timeout.")


class PagerDutySink(_Sink):
    type: Literal["pagerduty"]
    url: _URL = "https://events.pagerduty.com/v2/enqueue"
    routing_key: str = Field(min_length=1, description="Integration key; from ${VAR} only.")
    source: str | None = Field(None, description="payload.source; default drift-detector/<model>")
    severity_map: dict[Severity, PagerDutySeverity] = Field(
        default_factory=lambda: dict(_DEFAULT_PD_SEVERITY)
    )


class AlertmanagerSink(_Sink):
    type: Literal["alertmanager"]
    url: _URL = Field(description="Base URL, e.g. http://alertmanager:9093")
    resend_interval: Duration = Field(
        60.0, gt=0, description="Re-send firing alerts (must be below resolve_timeout)."
    )


class WebhookSink(_Sink):
    type: Literal["webhook"]
    url: _URL
    headers: dict[str, str] = Field(default_factory=dict)


class SlackSink(_Sink):
    type: Literal["slack"]
    url: _URL


SinkConfig = Annotated[
    PagerDutySink | AlertmanagerSink | WebhookSink | SlackSink, Field(discriminator="type")
]


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Match(_Strict):
    """Which alerts a route takes; an absent key matches everything."""

    model: Annotated[list[str] | None, BeforeValidator(_listify)] = None
    kind: Annotated[list[Kind] | None, BeforeValidator(_listify)] = None
    severity: Annotated[list[Severity] | None, BeforeValidator(_listify)] = None

    def matches(self, model: str, kind: str, severity: str) -> bool:
        return all(
            allowed is None or value in allowed
            for allowed, value in (
                (self.model, model),
                (self.kind, kind),
                (self.severity, severity),
            )
        )


class Route(_Strict):
    """First matching route wins, unless it says ``continue: true``."""

    name: _NAME
    match: Match = Match()
    sinks: list[str] = Field(min_length=1)
    continue_: bool = Field(False, alias="continue")
    grouping: GroupingOverride | None = Field(None, description="Overrides top-level grouping.")


class RouterConfig(_Strict):
    """A whole ``route`` configuration file."""

    kafka: dict[str, str | int | float | bool] = Field(default_factory=dict)
    topics: RouterTopics
    grouping: GroupingConfig = GroupingConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    models: dict[str, ModelLinks] = Field(
        default_factory=dict, description="Per model; the key '*' is the fallback."
    )
    sinks: dict[_NAME, SinkConfig] = Field(min_length=1)
    routes: list[Route] = Field(min_length=1)
    transactional_id: str | None = Field(
        None, description="Kafka transactional.id of the state producer; default from group.id."
    )
    _merged: dict[str, GroupingConfig] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> RouterConfig:
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError("route names must be unique")
        for i, route in enumerate(self.routes):
            unknown = [s for s in route.sinks if s not in self.sinks]
            if unknown:
                raise ValueError(f"routes.{i}.sinks: unknown sink(s) {unknown}")
            if route.grouping is not None:
                changes = route.grouping.model_dump(exclude_none=True)
                try:
                    merged = GroupingConfig.model_validate(self.grouping.model_dump() | changes)
                except ValidationError as exc:
                    raise ValueError(f"routes.{i}.grouping: {exc.errors()[0]['msg']}") from exc
                self._merged[route.name] = merged
        return self

    def links(self, model: str) -> ModelLinks:
        return self.models.get(model) or self.models.get("*") or ModelLinks()

    def grouping_for(self, route: Route) -> GroupingConfig:
        if route.grouping is None:
            return self.grouping
        return self._merged[route.name]


def _secret_fields(data: dict[str, Any]) -> list[str]:
    """Paths of secret values written literally in the raw (uninterpolated) YAML."""
    bad: list[str] = []
    sinks = data.get("sinks")
    if not isinstance(sinks, dict):
        return bad
    for name, sink in sinks.items():
        if not isinstance(sink, dict):
            continue
        secrets: dict[str, Any] = {}
        if sink.get("type") == "pagerduty":
            secrets["routing_key"] = sink.get("routing_key")
        if sink.get("type") == "slack":
            secrets["url"] = sink.get("url")
        headers = sink.get("headers")
        if isinstance(headers, dict):
            secrets.update({f"headers.{k}": v for k, v in headers.items()})
        for field, value in secrets.items():
            if isinstance(value, str) and not _ENV_REF.match(value):
                bad.append(f"sinks.{name}.{field}")
    return bad


def parse_router_config(data: Any, source: str = "<route config>") -> RouterConfig:
    """Validate a parsed YAML tree (before interpolation) into a :class:`RouterConfig`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    literal = _secret_fields(data)
    if literal:
        raise ConfigError(
            f"invalid config {source}:\n"
            + "\n".join(f"  {p}: a secret; write it as ${{VAR}} and set VAR" for p in literal)
        )
    try:
        return RouterConfig.model_validate(interpolate(data))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            parts = [str(part) for part in err["loc"]]
            if len(parts) > 2 and parts[0] == "sinks" and parts[2] in _SINK_TAGS:
                del parts[2]  # pydantic's union tag, not a key the user wrote
            loc = ".".join(parts)
            lines.append(f"  {loc or '(top level)'}: {err['msg']}")
        raise ConfigError(f"invalid config {source}:\n" + "\n".join(lines)) from exc


_SINK_TAGS = {"pagerduty", "alertmanager", "webhook", "slack"}


def load_router_config(path: str | Path) -> RouterConfig:
    """Read, check for literal secrets, interpolate and validate a route config file."""
    path = Path(path)
    return parse_router_config(read_yaml(path), str(path))
