"""The router's YAML: the example, field-naming errors, durations, secrets, metrics, scopes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detector.errors import ConfigError
from detector.routing.config import (
    PagerDutySink,
    load_router_config,
    load_router_kafka,
    parse_router_config,
    parse_router_kafka,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "route.yaml"
ENV = {
    "PAGERDUTY_ROUTING_KEY": "k",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/T/B/x",
    "AUDIT_WEBHOOK_URL": "https://audit.example/hook",
    "AUDIT_WEBHOOK_AUTHORIZATION": "Bearer t",
}


def _minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kafka": {"bootstrap.servers": "127.0.0.1:9092", "group.id": "r"},
        "topics": {"alerts": "a", "dead_letter": "d", "state": "s", "silences": "q"},
        "sinks": {"hook": {"type": "webhook", "url": "http://127.0.0.1:1/x"}},
        "routes": [{"name": "all", "sinks": ["hook"]}],
    }
    data.update(changes)
    return data


def test_example_config_loads_with_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """examples/route.yaml is valid; its secrets are ${VAR} references, resolved at load."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    config = load_router_config(EXAMPLE)
    assert config.grouping.group_wait == 30.0 and config.grouping.repeat_interval == 4 * 3600
    pagerduty = config.sinks["pagerduty"]
    assert isinstance(pagerduty, PagerDutySink) and pagerduty.routing_key == "k"
    notices = config.routes[1]
    merged = config.grouping_for(notices)
    assert (merged.group_wait, merged.repeat_interval, merged.flap_window) == (60.0, 0.0, 600.0)
    assert config.links("churn").runbook == "https://runbooks.example.com/ml/drift"


def test_missing_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset ${VAR} without default names the field it is used in."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PAGERDUTY_ROUTING_KEY")
    with pytest.raises(ConfigError, match=r"sinks\.pagerduty\.routing_key: environment variable"):
        load_router_config(EXAMPLE)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grouping": {"group_wiat": "30s"}}, "grouping.group_wiat: Extra inputs"),
        ({"grouping": {"group_wait": "soon"}}, "grouping.group_wait: Value error, 'soon' is not"),
        ({"grouping": {"group_by": ["feature"]}}, "group_by must include model and kind"),
        ({"routes": [{"name": "x", "sinks": ["nope"]}]}, "routes.0.sinks: unknown sink"),
        ({"sinks": {"h": {"type": "webhook", "url": "ftp://x"}}}, "sinks.h.url: String should"),
        ({"sinks": {"h": {"type": "email"}}}, "sinks.h: Input tag 'email'"),
        ({"models": {"m": {"report": "https://g/{feat}"}}}, "unknown placeholder"),
        (
            {"routes": [{"name": "a", "sinks": ["hook"], "match": {"severity": "high"}}]},
            "routes.0.match.severity.0: Input should be",
        ),
    ],
)
def test_errors_name_the_field(changes: dict[str, Any], message: str) -> None:
    """Typos and bad values fail with the field's path, like the detector's config."""
    with pytest.raises(ConfigError) as info:
        parse_router_config(_minimal(**changes))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("sink", "field"),
    [
        ({"type": "pagerduty", "routing_key": "abc"}, "sinks.s.routing_key"),
        ({"type": "slack", "url": "https://hooks.slack.com/services/T/B/secret"}, "sinks.s.url"),
        (
            {"type": "webhook", "url": "http://h", "headers": {"Authorization": "Bearer x"}},
            "sinks.s.headers.Authorization",
        ),
    ],
)
def test_secrets_written_into_the_file_are_refused(sink: dict[str, Any], field: str) -> None:
    """Keys, Slack URLs and header values must come from the environment."""
    with pytest.raises(ConfigError, match=f"{field}: a secret"):
        parse_router_config(_minimal(sinks={"s": sink}, routes=[{"name": "r", "sinks": ["s"]}]))


def test_scalar_match_values_and_continue() -> None:
    """`match: {model: fraud}` is a one-element list; `continue` is accepted as written."""
    config = parse_router_config(
        _minimal(
            routes=[{"name": "r", "sinks": ["hook"], "match": {"model": "fraud"}, "continue": True}]
        )
    )
    route = config.routes[0]
    assert route.match.model == ["fraud"] and route.continue_
    assert route.match.matches("fraud", "drift", "warning")
    assert not route.match.matches("churn", "drift", "warning")


def test_metrics_section_mirrors_the_detectors() -> None:
    """`metrics:` defaults to enabled on 127.0.0.1:9465 (the Helm chart's `metrics` port)."""
    metrics = parse_router_config(_minimal()).metrics
    assert (metrics.enabled, metrics.host, metrics.port, metrics.liveness_timeout) == (
        True,
        "127.0.0.1",
        9465,
        None,
    )
    custom = parse_router_config(_minimal(metrics={"port": 0, "host": "0.0.0.0"})).metrics
    assert (custom.port, custom.host) == (0, "0.0.0.0")
    for bad, message in (
        ({"prot": 9465}, "metrics.prot: Extra inputs"),
        ({"port": 70000}, "metrics.port: Input should be less than or equal to 65535"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_router_config(_minimal(metrics=bad))


def test_kafka_scope_ignores_unset_sink_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `silence` loads: kafka and topics only, so an unset ${VAR} in a sink is no error
    there, while the full load (`route`) still names it."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("PAGERDUTY_ROUTING_KEY", "SLACK_WEBHOOK_URL", "AUDIT_WEBHOOK_AUTHORIZATION"):
        monkeypatch.delenv(key)
    scoped = load_router_kafka(EXAMPLE)
    assert scoped.topics.silences == "drift.silences" and "bootstrap.servers" in scoped.kafka
    with pytest.raises(ConfigError, match=r"sinks\.pagerduty\.routing_key: environment variable"):
        load_router_config(EXAMPLE)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"topics": {"alerts": "a"}}, "topics.dead_letter: Field required"),
        ({"kafka": {"bootstrap.servers": "${UNSET_BOOTSTRAP_VAR}"}}, "kafka.bootstrap.servers: "),
        ({"sinkz": {}}, "sinkz: Extra inputs are not permitted"),
        ({"sinks": {"pd": {"type": "pagerduty", "routing_key": "abc"}}}, "sinks.pd.routing_key"),
    ],
)
def test_kafka_scope_still_names_its_errors(changes: dict[str, Any], message: str) -> None:
    """Broken topics or kafka settings, an unknown section and a literal secret stay errors."""
    with pytest.raises(ConfigError) as info:
        parse_router_kafka(_minimal(**changes))
    assert message in str(info.value)
