"""Sinks against a real HTTP server on 127.0.0.1: body shapes, outcomes, readable text."""

from __future__ import annotations

import random
from urllib.parse import urlsplit

import pytest

from detector.routing.config import GroupingConfig, RouterConfig, parse_router_config
from detector.routing.grouping import Group
from detector.routing.notifications import Notification, link_for
from detector.routing.sinks import Backoff, build_sinks, post_json
from detector.routing.sinks.slack import message
from detector.routing.testing import (
    SLACK_PATH,
    Receiver,
    SlackReceiver,
    alert_event,
    pagerduty_responder,
    pagerduty_v2_errors,
    slack_render,
)
from detector.testing.kafka_broker import free_port

G = GroupingConfig(group_wait=0, group_interval=0, flap_window=0)


def _config(url: str, monkeypatch: pytest.MonkeyPatch, slack_path: str = "/slack") -> RouterConfig:
    monkeypatch.setenv("TEST_PD_KEY", "R0UTINGKEY")
    monkeypatch.setenv("TEST_HOOK_URL", url + slack_path)
    monkeypatch.setenv("TEST_TOKEN", "Bearer s3cret")
    return parse_router_config(
        {
            "kafka": {"bootstrap.servers": "127.0.0.1:1", "group.id": "g"},
            "topics": {"alerts": "a", "dead_letter": "d", "state": "s", "silences": "q"},
            "models": {
                "fraud": {
                    "runbook": "https://runbooks.example.com/{model}",
                    "report": "https://grafana.example.com/d?f={feature}&s={segment}",
                    "hint": "Payments ETL feeds amount.",
                }
            },
            "sinks": {
                "pd": {
                    "type": "pagerduty",
                    "url": f"{url}/v2/enqueue",
                    "routing_key": "${TEST_PD_KEY}",
                },
                "am": {"type": "alertmanager", "url": url},
                "hook": {
                    "type": "webhook",
                    "url": f"{url}/hook",
                    "headers": {"Authorization": "${TEST_TOKEN}"},
                },
                "slack": {"type": "slack", "url": "${TEST_HOOK_URL}"},
            },
            "routes": [{"name": "pages", "sinks": ["pd", "am", "hook", "slack"]}],
        }
    )


def _notifications() -> tuple[Notification, Notification]:
    """A grouped trigger (amount in DE critical, mcc warning) and its resolve."""
    group = Group("pages/fraud/drift", "pages", "fraud", "drift", ["pd"])
    group.apply(alert_event("amount", segment={"country": "DE"}).data, 0.0, G, False)
    group.apply(alert_event("mcc", severity="warning", started=50).data, 0.0, G, False)
    trigger = group.tick(1.0, G, lambda a: False)
    group.apply(alert_event("amount", "resolved", segment={"country": "DE"}).data, 2.0, G, False)
    group.apply(alert_event("mcc", "resolved").data, 2.0, G, False)
    resolve = group.tick(3.0, G, lambda a: False)
    assert trigger is not None and resolve is not None and resolve.action == "resolve"
    return trigger, resolve


def test_pagerduty_trigger_and_resolve_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Events v2: trigger with payload, links and evidence; resolve with the same dedup_key."""
    trigger, resolve = _notifications()
    with Receiver(pagerduty_responder) as rx:
        sink = build_sinks(_config(rx.url, monkeypatch))["pd"]
        assert sink.deliver(trigger).outcome == "accepted"
        assert sink.deliver(resolve).outcome == "accepted"
    first, second = (r.body for r in rx.requests)
    assert [pagerduty_v2_errors(b) for b in (first, second)] == [[], []]
    assert (first["event_action"], second["event_action"]) == ("trigger", "resolve")
    assert first["dedup_key"] == second["dedup_key"] == "pages/fraud/drift/2026-01-01T00:00:41.710Z"
    payload = first["payload"]
    assert payload["severity"] == "critical" and payload["group"] == "fraud"
    assert payload["component"] == "amount, mcc" and payload["source"] == "drift-detector/fraud"
    assert payload["summary"].startswith("[fraud] drift in 2 series of 2 feature(s) since ")
    details = payload["custom_details"]
    assert details["firing"][0]["segment"] == "country=DE"
    assert details["firing"][0]["reference"].startswith("the series' first 1000 values: mean 99.88")
    assert "Payments ETL feeds amount." in details["next_steps"]
    assert first["links"][1]["href"] == "https://grafana.example.com/d?f=amount&s=country%3DDE"


def test_alertmanager_labels_are_stable_and_numbers_are_annotations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One alert per series; labels hold identity only; resolve carries endsAt."""
    trigger, resolve = _notifications()
    with Receiver(lambda r: 200) as rx:
        sink = build_sinks(_config(rx.url, monkeypatch))["am"]
        sink.deliver(trigger)
        sink.deliver(resolve)
    firing, resolved = (r.body for r in rx.requests)
    assert rx.requests[0].path == "/api/v2/alerts"
    assert firing[0]["labels"] == {
        "alertname": "FeatureDrift",
        "model": "fraud",
        "kind": "drift",
        "feature": "amount",
        "segment": "country=DE",
        "severity": "critical",
    }
    assert "endsAt" not in firing[0] and all("endsAt" in a for a in resolved)
    assert firing[0]["annotations"]["value"] == "50.73"
    assert firing[0]["annotations"]["runbook_url"] == "https://runbooks.example.com/fraud"
    assert {a["labels"]["feature"] for a in resolved} == {"amount", "mcc"}


def test_webhook_sends_idempotency_key_and_configured_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The generic webhook carries the notification id and the header from the environment."""
    trigger, _ = _notifications()
    with Receiver(lambda r: 204) as rx:
        result = build_sinks(_config(rx.url, monkeypatch))["hook"].deliver(trigger)
    assert result.outcome == "accepted"
    request = rx.requests[0]
    assert request.headers["Idempotency-Key"] == trigger.id
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.body["status"] == "firing" and len(request.body["alerts"]) == 2


def test_slack_message_is_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chat message names what, where, how much, since when, the reference and next step."""
    trigger, resolve = _notifications()
    cfg = _config("http://x", monkeypatch)
    raw = message(trigger, cfg.links("fraud"))
    text, links = slack_render(raw)  # what the channel shows
    assert text.splitlines()[0].startswith(":red_circle: *FIRING* [fraud] drift in 2 series")
    assert (
        "• *amount* in country=DE (critical, since 2026-01-01T00:00:41.710Z): mean 99.88 -> "
        "122.3 (+1.11 sd)" in text
    )
    assert "reference: the series' first 1000 values: mean 99.88" in text
    assert "<https://runbooks.example.com/fraud|Runbook>" in raw
    assert links == [
        "https://runbooks.example.com/fraud",
        "https://grafana.example.com/d?f=amount&s=country%3DDE",
    ]
    assert "Next: Start with amount in segment country=DE" in text
    assert message(resolve, cfg.links("fraud")).startswith(":large_green_circle: *RESOLVED*")


HOSTILE = "<!channel> <https://evil.example|Runbook> & <@U123>"


def test_slack_escapes_alert_values_so_they_never_ping_or_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A segment value ``<!channel> <https://evil.example|Runbook>`` reaches a Slack-shaped
    webhook escaped: the channel shows it as literal text, and the only links are the runbook
    and report links of the config (with the value URL-quoted inside)."""
    group = Group("pages/fraud/drift", "pages", "fraud", "drift", ["slack"])
    alert = alert_event("amount", segment={"country": HOSTILE}).data
    group.apply(alert, 0.0, G, False)
    trigger = group.tick(1.0, G, lambda a: False)
    assert trigger is not None
    with SlackReceiver() as rx:
        config = _config(rx.url, monkeypatch, SLACK_PATH)
        result = build_sinks(config)["slack"].deliver(trigger)
    assert (result.outcome, result.status, result.body) == ("accepted", 200, "ok")
    raw = rx.requests[0].body["text"]
    assert "<!channel>" not in raw and "<https://evil.example" not in raw and "<@U123>" not in raw
    assert "&lt;!channel&gt; &lt;https://evil.example|Runbook&gt; &amp; &lt;@U123&gt;" in raw
    text, links = slack_render(raw)
    assert f"• *amount* in country={HOSTILE} (critical" in text
    links_config = config.links("fraud")
    assert links == [link_for(links_config.runbook, alert), link_for(links_config.report, alert)]
    hosts = {urlsplit(target).netloc for target in links}  # no mention, no foreign link
    assert hosts == {"runbooks.example.com", "grafana.example.com"}


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (202, "accepted"),
        (400, "permanent"),
        (404, "permanent"),
        (429, "transient"),
        (500, "transient"),
        (503, "transient"),
    ],
)
def test_status_classification(status: int, outcome: str) -> None:
    """2xx accepted, 429/5xx transient, other 4xx permanent (with the response kept)."""
    with Receiver(lambda r: status) as rx:
        result = post_json(f"{rx.url}/x", {"a": 1}, timeout=5)
    assert (result.outcome, result.status) == (outcome, status)
    if status >= 400:
        assert "rejected by the test" in result.body


def test_unreachable_and_slow_receivers_are_transient() -> None:
    """Connection refused and a timeout are both retried, never dropped."""
    refused = post_json(f"http://127.0.0.1:{free_port()}/x", {}, timeout=2)
    assert (refused.outcome, refused.status) == ("transient", None)
    with Receiver() as rx:
        rx.hold.set()
        slow = post_json(f"{rx.url}/x", {}, timeout=0.3)
        rx.release.set()
    assert (slow.outcome, slow.status) == ("transient", None)


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after() -> None:
    """Delays double up to the cap, each within [d/2, d]; Retry-After is a floor."""
    backoff = Backoff(1.0, 8.0, random.Random(3))
    delays = [backoff.failed(0.0) for _ in range(6)]
    for delay, cap in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert cap / 2 <= delay <= cap
    assert backoff.failed(0.0, retry_after=30.0) == 30.0
    assert not backoff.ready(29.0) and backoff.ready(30.0)
    backoff.succeeded()
    assert backoff.ready(0.0) and backoff.failed(0.0) <= 1.0
