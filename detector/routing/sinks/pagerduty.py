"""PagerDuty Events API v2: ``trigger`` while a group fires, ``resolve`` when it is over.

One incident per group episode: ``dedup_key`` is the notification's ``incident_key``
(``<route>/<model>/<kind>/<first started_at>``), so updates and repeats of a firing group are
deduplicated by PagerDuty into the open incident, and the resolve closes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from detector.alerts import AlertData
from detector.routing.config import ModelLinks, PagerDutySink
from detector.routing.notifications import Notification, details, headline, link
from detector.routing.sinks.base import Result, post_json


def _component(n: Notification) -> str:
    features = sorted({a.feature for a in n.firing or n.resolved})
    text = ", ".join(features[:5])
    return text + (f" +{len(features) - 5} more" if len(features) > 5 else "")


class PagerDuty:
    def __init__(
        self, name: str, spec: PagerDutySink, links: Callable[[str], ModelLinks], timeout: float
    ) -> None:
        self.name, self.spec, self.links, self.timeout = name, spec, links, timeout

    def body(self, n: Notification) -> dict[str, Any]:
        """The Events API v2 request body for a notification."""
        base: dict[str, Any] = {"routing_key": self.spec.routing_key, "dedup_key": n.incident_key}
        if n.action == "resolve":
            return {**base, "event_action": "resolve"}
        model_links = self.links(n.model)
        top = n.top()
        links = []
        if model_links.runbook:
            links.append({"href": link(model_links.runbook, n), "text": "Runbook"})
        if model_links.report:
            links.append({"href": link(model_links.report, n), "text": "Drift report"})
        return {
            **base,
            "event_action": "trigger",
            "payload": {
                "summary": headline(n),
                "source": self.spec.source or f"drift-detector/{n.model}",
                "severity": self.spec.severity_map.get(top.severity, "warning"),
                "timestamp": max(a.observed_at for a in n.firing),
                "component": _component(n),
                "group": n.model,
                "class": n.kind,
                "custom_details": details(n, model_links),
            },
            "links": links,
            "client": "kafka-drift-detector",
        }

    def deliver(self, notification: Notification) -> Result:
        return post_json(self.spec.url, self.body(notification), self.timeout)

    def refresh(self, firing: list[AlertData], now: float) -> Result | None:
        return None
