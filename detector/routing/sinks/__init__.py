"""Sinks: PagerDuty Events API v2, Alertmanager API v2, a JSON webhook and a Slack webhook."""

from __future__ import annotations

from collections.abc import Callable

from detector.routing.config import (
    AlertmanagerSink,
    ModelLinks,
    PagerDutySink,
    RouterConfig,
    SlackSink,
    WebhookSink,
)
from detector.routing.sinks.alertmanager import Alertmanager
from detector.routing.sinks.base import Backoff, Result, Sink, classify, post_json
from detector.routing.sinks.pagerduty import PagerDuty
from detector.routing.sinks.slack import Slack
from detector.routing.sinks.webhook import Webhook

__all__ = ["Backoff", "Result", "Sink", "build_sinks", "classify", "post_json"]


def build_sinks(config: RouterConfig) -> dict[str, Sink]:
    """One sink object per configured sink name."""
    links: Callable[[str], ModelLinks] = config.links
    sinks: dict[str, Sink] = {}
    for name, spec in config.sinks.items():
        timeout = spec.timeout or config.delivery.timeout
        if isinstance(spec, PagerDutySink):
            sinks[name] = PagerDuty(name, spec, links, timeout)
        elif isinstance(spec, AlertmanagerSink):
            sinks[name] = Alertmanager(name, spec, links, timeout)
        elif isinstance(spec, WebhookSink):
            sinks[name] = Webhook(name, spec, links, timeout)
        elif isinstance(spec, SlackSink):
            sinks[name] = Slack(name, spec, links, timeout)
    return sinks
