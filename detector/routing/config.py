"""The router's YAML configuration (``drift-detector route --config FILE``).

Same rules as the detector's config: ``${VAR}`` / ``${VAR:-default}`` from the environment in
values, unknown keys are errors, and every error names its field. On top of that, secrets must
not be written into the file (see :mod:`.sink_config`). ``silence`` commands load only the
``kafka`` and ``topics`` sections (:func:`load_router_kafka`), so they run without the sinks'
secrets in the environment.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, Field, PrivateAttr, ValidationError, model_validator

from detector.alerts import Kind, Severity
from detector.config import interpolate, read_yaml
from detector.errors import ConfigError
from detector.routing.fields import Duration, Name, Strict, seconds
from detector.routing.sink_config import (
    SINK_TAGS,
    AlertmanagerSink,
    PagerDutySink,
    SinkConfig,
    SlackSink,
    WebhookSink,
    literal_secrets,
)

__all__ = [
    "AlertmanagerSink",
    "DeliveryConfig",
    "GroupingConfig",
    "ModelLinks",
    "PagerDutySink",
    "Route",
    "RouterConfig",
    "RouterKafkaConfig",
    "RouterMetricsConfig",
    "SlackSink",
    "WebhookSink",
    "load_router_config",
    "load_router_kafka",
    "parse_router_config",
    "parse_router_kafka",
    "seconds",
]

GroupLabel = Literal["model", "kind", "feature", "segment", "severity"]
_PLACEHOLDERS = {"model", "kind", "feature", "segment"}
_DEFAULT_GROUP_BY: tuple[GroupLabel, ...] = ("model", "kind")
_M = TypeVar("_M", bound=Strict)


class RouterTopics(Strict):
    """The alerts topic to read and the router's own topics."""

    alerts: str = Field(min_length=1, description="Alert CloudEvents written by the detector.")
    dead_letter: str = Field(min_length=1, description="Notifications a sink rejected (4xx).")
    state: str = Field(min_length=1, description="Compacted topic holding the router's state.")
    silences: str = Field(min_length=1, description="Compacted topic of silences.")
    create_missing: bool = True


class RouterKafkaConfig(Strict):
    """What the ``silence`` commands need: the Kafka connection and the topics."""

    kafka: dict[str, str | int | float | bool] = Field(default_factory=dict)
    topics: RouterTopics


class RouterMetricsConfig(Strict):
    """The router's HTTP endpoint: ``/metrics``, ``/healthz`` and ``/readyz`` (as the detector's
    ``metrics:``, on its own default port)."""

    enabled: bool = Field(True, description="Serve metrics and health endpoints during route.")
    host: str = Field(
        "127.0.0.1", min_length=1, description="Address to bind; 0.0.0.0 in a container."
    )
    port: int = Field(9465, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    liveness_timeout: float | None = Field(
        None,
        gt=0,
        description="Seconds without a poll-loop turn after which /healthz fails; default: "
        "the consumer's max.poll.interval.ms (300 s).",
    )


class GroupingConfig(Strict):
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


class GroupingOverride(Strict):
    """A route's changes to the top-level grouping; unset keys are inherited."""

    group_by: list[GroupLabel] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    flap_window: Duration | None = None


class DeliveryConfig(Strict):
    """Retries of transient failures (429, 5xx, timeouts): forever, with backoff and jitter."""

    initial_backoff: Duration = 1.0
    max_backoff: Duration = 120.0
    timeout: Duration = Field(10.0, gt=0, description="HTTP timeout per request.")


class ModelLinks(Strict):
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


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Match(Strict):
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


class Route(Strict):
    """First matching route wins, unless it says ``continue: true``."""

    name: Name
    match: Match = Match()
    sinks: list[str] = Field(min_length=1)
    continue_: bool = Field(False, alias="continue")
    grouping: GroupingOverride | None = Field(None, description="Overrides top-level grouping.")


class RouterConfig(RouterKafkaConfig):
    """A whole ``route`` configuration file."""

    grouping: GroupingConfig = GroupingConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    models: dict[str, ModelLinks] = Field(
        default_factory=dict, description="Per model; the key '*' is the fallback."
    )
    sinks: dict[Name, SinkConfig] = Field(min_length=1)
    routes: list[Route] = Field(min_length=1)
    transactional_id: str | None = Field(
        None, description="Kafka transactional.id of the state producer; default from group.id."
    )
    metrics: RouterMetricsConfig = RouterMetricsConfig()
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


def _validate(model: type[_M], data: dict[str, Any], raw: Any, source: str) -> _M:
    """Refuse literal secrets in ``raw``, then interpolate and validate ``data`` as ``model``."""
    literal = literal_secrets(raw)
    if literal:
        raise ConfigError(
            f"invalid config {source}:\n"
            + "\n".join(f"  {p}: a secret; write it as ${{VAR}} and set VAR" for p in literal)
        )
    try:
        return model.model_validate(interpolate(data))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            parts = [str(part) for part in err["loc"]]
            if len(parts) > 2 and parts[0] == "sinks" and parts[2] in SINK_TAGS:
                del parts[2]  # pydantic's union tag, not a key the user wrote
            loc = ".".join(parts)
            lines.append(f"  {loc or '(top level)'}: {err['msg']}")
        raise ConfigError(f"invalid config {source}:\n" + "\n".join(lines)) from exc


def _mapping(data: Any, source: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    return data


def parse_router_config(data: Any, source: str = "<route config>") -> RouterConfig:
    """Validate a parsed YAML tree (before interpolation) into a :class:`RouterConfig`."""
    return _validate(RouterConfig, _mapping(data, source), data, source)


def parse_router_kafka(data: Any, source: str = "<route config>") -> RouterKafkaConfig:
    """Validate only ``kafka`` and ``topics``: the other sections' ``${VAR}`` may be unset.

    Unknown top-level keys and literal secrets are still errors: the file must stay one that
    ``route`` can load.
    """
    tree = _mapping(data, source)
    unknown = sorted(str(k) for k in tree if k not in RouterConfig.model_fields)
    if unknown:
        lines = "\n".join(f"  {k}: Extra inputs are not permitted" for k in unknown)
        raise ConfigError(f"invalid config {source}:\n{lines}")
    wanted = {k: v for k, v in tree.items() if k in RouterKafkaConfig.model_fields}
    return _validate(RouterKafkaConfig, wanted, data, source)


def load_router_config(path: str | Path) -> RouterConfig:
    """Read, check for literal secrets, interpolate and validate a route config file."""
    path = Path(path)
    return parse_router_config(read_yaml(path), str(path))


def load_router_kafka(path: str | Path) -> RouterKafkaConfig:
    """Read a route config file for the ``silence`` commands (see :func:`parse_router_kafka`)."""
    path = Path(path)
    return parse_router_kafka(read_yaml(path), str(path))
