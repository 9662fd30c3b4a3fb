"""A generic JSON webhook: the whole notification, its evidence and an idempotency key.

The ``Idempotency-Key`` header is the notification id: a receiver that keeps the ids it has
seen drops the one re-send a crash can cause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from detector.alerts import AlertData, rfc3339
from detector.routing.config import ModelLinks, WebhookSink
from detector.routing.notifications import Notification, details
from detector.routing.sinks.base import Result, post_json

WEBHOOK_VERSION = "1"


class Webhook:
    def __init__(
        self, name: str, spec: WebhookSink, links: Callable[[str], ModelLinks], timeout: float
    ) -> None:
        self.name, self.spec, self.links, self.timeout = name, spec, links, timeout

    def body(self, n: Notification) -> dict[str, Any]:
        return {
            "version": WEBHOOK_VERSION,
            "id": n.id,
            "status": "resolved" if n.action == "resolve" else "firing",
            "action": n.action,
            "reason": n.reason,
            "incident_key": n.incident_key,
            "group": n.group,
            "route": n.route,
            "model": n.model,
            "kind": n.kind,
            "notified_at": rfc3339(n.created_at),
            "details": details(n, self.links(n.model)),
            "alerts": [a.model_dump(mode="json") for a in n.firing + n.resolved],
        }

    def deliver(self, notification: Notification) -> Result:
        headers = {"Idempotency-Key": notification.id, **self.spec.headers}
        return post_json(self.spec.url, self.body(notification), self.timeout, headers)

    def refresh(self, firing: list[AlertData], now: float) -> Result | None:
        return None
