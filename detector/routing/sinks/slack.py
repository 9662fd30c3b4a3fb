"""A Slack-style incoming webhook: one readable message per notification (``{"text": ...}``).

Slack answers 200 ``ok``; 4xx (bad or revoked URL) is permanent, 429 and 5xx are retried.
Slack's mrkdwn reads ``<...>`` as links and mentions, so every value from alerts or config is
escaped as Slack documents (``&``, ``<``, ``>``; nothing else): a segment value
``<!channel>`` shows as text instead of notifying the channel.

>>> escape("<!channel> <https://evil.example|Runbook> & co")
'&lt;!channel&gt; &lt;https://evil.example|Runbook&gt; &amp; co'
"""

from __future__ import annotations

from collections.abc import Callable

from detector.alerts import AlertData, segment_label
from detector.routing.config import ModelLinks, SlackSink
from detector.routing.notifications import (
    SEVERITY_RANK,
    Notification,
    first_look,
    headline,
    link,
    reference_text,
)
from detector.routing.sinks.base import Result, post_json

_LISTED = 25
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ICONS = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":white_circle:"}


def escape(text: str) -> str:
    """``text`` as literal Slack mrkdwn (https://api.slack.com/reference/surfaces/formatting)."""
    return text.translate(_ESCAPES)


def _where(a: AlertData) -> str:
    return escape(segment_label(a.segment))


def _line(a: AlertData) -> str:
    change = escape(a.summary.split(": ", 1)[-1])
    return (
        f"• *{escape(a.feature)}* in {_where(a)} ({escape(a.severity)}, "
        f"since {escape(a.started_at)}): "
        f"{change}\n    reference: {escape(reference_text(a))}"
    )


def _link(url: str | None, label: str) -> str:
    return f"<{escape(url or '')}|{label}>"


def message(n: Notification, links: ModelLinks) -> str:
    """The message text (Slack mrkdwn); only the markup added here is not escaped."""
    if n.action == "resolve":
        lines = [f":large_green_circle: *RESOLVED* {escape(headline(n))}"]
        lines += [f"• {escape(a.feature)} in {_where(a)}" for a in n.resolved[:_LISTED]]
    else:
        label = {"new": "FIRING", "update": "UPDATE", "repeat": "STILL FIRING"}[n.reason]
        lines = [f"{_ICONS.get(n.severity(), '')} *{label}* {escape(headline(n))}"]
        ordered = sorted(n.firing, key=lambda a: (SEVERITY_RANK[a.severity], a.started_at))
        lines += [_line(a) for a in ordered[:_LISTED]]
        if len(ordered) > _LISTED:
            lines.append(f"… and {len(ordered) - _LISTED} more")
        if n.resolved:
            back = ", ".join(f"{escape(a.feature)} ({_where(a)})" for a in n.resolved)
            lines.append(f"Back in line: {back}")
        refs = []
        if links.runbook:
            refs.append(_link(link(links.runbook, n), "Runbook"))
        if links.report:
            refs.append(_link(link(links.report, n), "Drift report"))
        if refs:
            lines.append(" · ".join(refs))
        lines.append(f"Next: {escape(first_look(n))}")
        if links.hint:
            lines.append(f"Hint: {escape(links.hint)}")
    return "\n".join(lines)


class Slack:
    def __init__(
        self, name: str, spec: SlackSink, links: Callable[[str], ModelLinks], timeout: float
    ) -> None:
        self.name, self.spec, self.links, self.timeout = name, spec, links, timeout

    def deliver(self, notification: Notification) -> Result:
        text = message(notification, self.links(notification.model))
        return post_json(self.spec.url, {"text": text}, self.timeout)

    def refresh(self, firing: list[AlertData], now: float) -> Result | None:
        return None
