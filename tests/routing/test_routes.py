"""Routing by model, kind and severity; readable pages from the detector's real alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.alerts import AlertEvent
from detector.config import load_config
from detector.replay import read_lines, replay
from detector.routing.config import (
    GroupingConfig,
    ModelLinks,
    PagerDutySink,
    parse_router_config,
)
from detector.routing.grouping import Group
from detector.routing.notifications import details, headline
from detector.routing.router import Router
from detector.routing.sinks.pagerduty import PagerDuty
from detector.routing.testing import alert_event, pagerduty_v2_errors

ROOT = Path(__file__).resolve().parents[2]
_PD_CONFIG = {
    "topics": {"alerts": "a", "dead_letter": "d", "state": "s", "silences": "q"},
    "sinks": {"pd": {"type": "pagerduty", "routing_key": "${TEST_ROUTES_PD_KEY}"}},
    "routes": [{"name": "r", "sinks": ["pd"]}],
}


def _router() -> Router:
    config = parse_router_config(
        {
            "kafka": {"bootstrap.servers": "127.0.0.1:1", "group.id": "g"},
            "topics": {"alerts": "a", "dead_letter": "d", "state": "s", "silences": "q"},
            "sinks": {
                s: {"type": "webhook", "url": f"http://127.0.0.1:1/{s}"}
                for s in ("pd", "chat", "audit")
            },
            "routes": [
                {"name": "audit", "sinks": ["audit"], "continue": True},
                {
                    "name": "pages",
                    "match": {"severity": "critical", "model": ["fraud"]},
                    "sinks": ["pd", "chat"],
                },
                {"name": "notices", "sinks": ["chat"]},
            ],
        }
    )
    return Router(config, sinks={})


def test_first_matching_route_wins_unless_continue() -> None:
    """Critical fraud pages; warnings and other models go to chat; audit sees everything."""
    router = _router()
    keys = {
        name: sorted(g.key for g in router._targets(alert_event("amount", **kw).data))
        for name, kw in {
            "critical": {},
            "warning": {"severity": "warning"},
            "other model": {"model": "churn"},
        }.items()
    }
    assert keys == {
        "critical": ["audit/fraud/drift", "pages/fraud/drift"],
        "warning": ["audit/fraud/drift", "notices/fraud/drift"],
        "other model": ["audit/churn/drift", "notices/churn/drift"],
    }
    assert router.groups["pages/fraud/drift"].sinks == ["pd", "chat"]


def test_resolution_reaches_every_group_that_knows_the_series() -> None:
    """A resolved alert never creates a group; it goes where its series is a member."""
    router = _router()
    assert router._targets(alert_event("amount", "resolved").data) == []
    firing = alert_event("amount").data
    for group in router._targets(firing):
        group.apply(firing, 0.0, GroupingConfig(), False)
    resolved = router._targets(alert_event("amount", "resolved").data)
    assert sorted(g.key for g in resolved) == ["audit/fraud/drift", "pages/fraud/drift"]


def test_page_from_the_detectors_own_alerts_is_valid_and_readable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The example stream's real alerts make a valid v2 trigger that says what, where, since."""
    alerts: list[AlertEvent] = []
    with (ROOT / "examples" / "events.jsonl").open("rb") as lines:
        replay(load_config(ROOT / "examples" / "fraud.yaml"), read_lines(lines), alerts.append)
    firing = [a.data for a in alerts if a.data.status == "firing"]
    assert firing
    group = Group("pages/fraud/drift", "pages", "fraud", "drift", ["pd"])
    grouping = GroupingConfig(group_wait=0)
    for alert in firing:
        group.apply(alert, 0.0, grouping, False)
    notification = group.tick(1.0, grouping, lambda a: False)
    assert notification is not None
    links = ModelLinks(runbook="https://runbooks.example.com/{model}", hint="Ask payments-data.")
    monkeypatch.setenv("TEST_ROUTES_PD_KEY", "k")
    spec = parse_router_config(_PD_CONFIG).sinks["pd"]
    assert isinstance(spec, PagerDutySink)
    body = PagerDuty("pd", spec, lambda m: links, 5).body(notification)
    assert pagerduty_v2_errors(body) == []
    first = firing[0]
    text = headline(notification)
    assert first.feature in text and first.started_at in text
    evidence = details(notification, links)
    member = next(m for m in evidence["firing"] if m["dedup_key"] == first.dedup_key)
    assert member["reference"].startswith(f"the series' first {first.reference.count} values")
    assert member["since"] == first.started_at and member["change"] == first.summary
    assert evidence["runbook"] == "https://runbooks.example.com/fraud"
    assert evidence["next_steps"][-1] == "Ask payments-data."
