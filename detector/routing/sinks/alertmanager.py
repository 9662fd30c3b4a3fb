"""Prometheus Alertmanager API v2: ``POST /api/v2/alerts``, one alert per series.

Labels are the series' stable identity (``alertname``, ``model``, ``feature``, ``segment``,
``kind``, ``severity``); every number goes into annotations, so the fingerprint never changes
while the alert lives. Alertmanager does its own grouping, inhibition and silencing on top.
Firing alerts carry no ``endsAt`` and are re-sent every ``resend_interval`` (Alertmanager
resolves an alert that is not re-sent within its ``resolve_timeout``); a resolution is sent
with ``endsAt``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from detector.alerts import AlertData, rfc3339
from detector.routing.config import AlertmanagerSink, ModelLinks
from detector.routing.notifications import (
    Notification,
    alert_labels,
    current_text,
    link_for,
    reference_text,
)
from detector.routing.sinks.base import Result, post_json


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Alertmanager:
    def __init__(
        self, name: str, spec: AlertmanagerSink, links: Callable[[str], ModelLinks], timeout: float
    ) -> None:
        self.name, self.spec, self.links, self.timeout = name, spec, links, timeout
        self.url = spec.url.rstrip("/") + "/api/v2/alerts"
        self.resend_interval = spec.resend_interval

    def alert(self, a: AlertData, now: float, ends_at: float | None = None) -> dict[str, Any]:
        """One Alertmanager alert; ``ends_at`` resolves it."""
        model_links = self.links(a.model)
        annotations = {
            "summary": a.summary,
            "description": (
                f"{a.summary}\nSince {a.started_at}, last seen {a.observed_at}.\n"
                f"Reference: {reference_text(a)}\nCurrent: {current_text(a)}"
            ),
            "reference": reference_text(a),
            "current": current_text(a),
            "detector": a.detector,
            "statistic": a.statistic,
            "value": f"{a.value:.6g}",
            "threshold": f"{a.threshold:.6g}",
            "started_at": a.started_at,
            "observed_at": a.observed_at,
            "detections": str(a.detections),
            "dedup_key": a.dedup_key,
        }
        runbook = link_for(model_links.runbook, a)
        report = link_for(model_links.report, a)
        if runbook:
            annotations["runbook_url"] = runbook
        if model_links.hint:
            annotations["hint"] = model_links.hint
        starts = min(_epoch(a.started_at), now if ends_at is None else ends_at)
        out: dict[str, Any] = {
            "labels": alert_labels(a),
            "annotations": annotations,
            "startsAt": rfc3339(starts),
        }
        if report:
            out["generatorURL"] = report
        if ends_at is not None:
            out["endsAt"] = rfc3339(ends_at)
        return out

    def deliver(self, n: Notification) -> Result:
        body = [self.alert(a, n.created_at) for a in n.firing]
        body += [self.alert(a, n.created_at, ends_at=n.created_at) for a in n.resolved]
        return post_json(self.url, body, self.timeout)

    def refresh(self, firing: list[AlertData], now: float) -> Result | None:
        if not firing:
            return None
        return post_json(self.url, [self.alert(a, now) for a in firing], self.timeout)
