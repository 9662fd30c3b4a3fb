"""A notification (what one group tells every sink of its route) and the words in it.

Every sink renders the same :class:`Notification`: the summary line and the details say what
drifted, where, how much, since when, against which reference, and what to look at next.

>>> from detector.alerts import Summary
>>> summary_text(Summary(count=1000, mean=99.88, std=20.2, min=39.7, p50=99.7, max=164.2))
'mean 99.88, sd 20.2, median 99.7, range 39.7..164.2'
>>> summary_text(Summary(count=500, shares={"5411": 0.1, "5812": 0.6}))
'5812 60%, 5411 10%'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from detector.alerts import AlertData, Summary, segment_label
from detector.routing.config import ModelLinks

Action = Literal["trigger", "resolve"]
Reason = Literal["new", "update", "repeat", "resolve"]
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
_MAX_LISTED = 100  # series listed in one notification's details (PagerDuty: 512 KB per event)


@dataclass
class Notification:
    """One message for every sink of a route; ``sinks_done`` is its delivery progress."""

    id: str
    group: str
    route: str
    incident_key: str
    action: Action
    reason: Reason
    model: str
    kind: str
    created_at: float
    sinks: list[str]
    firing: list[AlertData]
    resolved: list[AlertData] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    sinks_done: list[str] = field(default_factory=list)
    alert_time: float | None = None  # when the earliest alert behind it was written (latency)

    def pending_sinks(self) -> list[str]:
        return [s for s in self.sinks if s not in self.sinks_done]

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("firing", "resolved")}
        out["firing"] = [a.model_dump(mode="json") for a in self.firing]
        out["resolved"] = [a.model_dump(mode="json") for a in self.resolved]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notification:
        fields = dict(data)
        fields["firing"] = [AlertData.model_validate(a) for a in data["firing"]]
        fields["resolved"] = [AlertData.model_validate(a) for a in data["resolved"]]
        return cls(**fields)

    def top(self) -> AlertData:
        """The member to look at first: most severe, then earliest to fire."""
        members = self.firing or self.resolved
        return min(members, key=lambda a: (SEVERITY_RANK[a.severity], a.started_at, a.dedup_key))

    def severity(self) -> str:
        return self.top().severity if self.firing else "info"

    def since(self) -> str:
        return min(a.started_at for a in (self.firing or self.resolved))


ALERTNAMES = {"drift": "FeatureDrift", "quality": "DataQuality", "performance": "ModelPerformance"}
# The labels alert_labels() gives (``check`` only for quality alerts): what silences match on.
ALERT_LABELS = ("alertname", "model", "kind", "feature", "segment", "severity", "check")


def alert_labels(a: AlertData) -> dict[str, str]:
    """Stable identity labels of one series' alert (Alertmanager labels, silence matchers)."""
    labels = {
        "alertname": ALERTNAMES.get(a.kind, "ModelAlert"),
        "model": a.model,
        "kind": a.kind,
        "feature": a.feature,
        "segment": segment_label(a.segment),
        "severity": a.severity,
    }
    check = getattr(a, "check", None)  # quality alerts: part of the identity
    if check:
        labels["check"] = str(check)
    return labels


def where(segment: dict[str, str]) -> str:
    return f"segment {segment_label(segment)}" if segment else "all traffic"


def summary_text(s: Summary) -> str:
    """A distribution in one phrase: moments for numeric series, top shares for categorical."""
    if s.shares is not None:
        top = sorted(s.shares.items(), key=lambda kv: -kv[1])[:5]
        text = ", ".join(f"{k} {v:.0%}" for k, v in top)
    else:
        parts = [("mean", s.mean), ("sd", s.std), ("median", s.p50)]
        text = ", ".join(f"{n} {v:.4g}" for n, v in parts if v is not None)
        if s.min is not None and s.max is not None:
            text += f", range {s.min:.4g}..{s.max:.4g}"
    return text


def reference_text(a: AlertData) -> str:
    """Against which reference: the series' warm-up values."""
    return f"the series' first {a.reference.count} values: {summary_text(a.reference)}"


def current_text(a: AlertData) -> str:
    return f"the last {a.current.count} values: {summary_text(a.current)}"


def headline(n: Notification) -> str:
    """The one-line summary (<= 1024 chars, PagerDuty's limit)."""
    members = n.firing or n.resolved
    if n.action == "resolve":
        if len(members) == 1:
            return f"RESOLVED {members[0].summary}"[:1024]
        return (
            f"[{n.model}] RESOLVED: all {len(members)} {n.kind} series are back in line with "
            f"their reference (firing since {n.since()})"
        )
    if len(n.firing) == 1:
        return f"{n.firing[0].summary}; since {n.firing[0].started_at}"[:1024]
    counts: dict[str, int] = {}
    for a in n.firing:
        counts[a.severity] = counts.get(a.severity, 0) + 1
    by_feature: dict[str, list[str]] = {}
    for a in sorted(n.firing, key=lambda a: (SEVERITY_RANK[a.severity], a.started_at)):
        by_feature.setdefault(a.feature, []).append(segment_label(a.segment))
    features = "; ".join(f"{f} ({', '.join(segs)})" for f, segs in by_feature.items())
    sev = ", ".join(
        f"{c} {s}" for s, c in sorted(counts.items(), key=lambda i: SEVERITY_RANK[i[0]])
    )
    text = (
        f"[{n.model}] {n.kind} in {len(n.firing)} series of {len(by_feature)} feature(s) "
        f"since {n.since()} ({sev}): {features}"
    )
    return text if len(text) <= 1024 else text[:1020] + " ..."


def link(template: str | None, n: Notification) -> str | None:
    """A runbook or report URL for a notification: its top member's names filled in."""
    return link_for(template, n.top())


def member_details(a: AlertData) -> dict[str, Any]:
    """One series: what, where, how much, since when, against which reference."""
    return {
        "feature": a.feature,
        "segment": segment_label(a.segment),
        "severity": a.severity,
        "status": a.status,
        "change": a.summary,
        "since": a.started_at,
        "observed_at": a.observed_at,
        "test": f"{a.detector}: {a.statistic}={a.value:.4g} (threshold {a.threshold:.4g})",
        "reference": reference_text(a),
        "current": current_text(a),
        "detections": a.detections,
        "dedup_key": a.dedup_key,
    }


def first_look(n: Notification) -> str:
    top = n.top()
    return (
        f"Start with {top.feature} in {where(top.segment)} ({top.severity}, first to fire); "
        f"check what changed upstream of the model around {n.since()} (deploys, schema or "
        "source changes, traffic mix)."
    )


def next_steps(n: Notification, links: ModelLinks) -> list[str]:
    steps = []
    if links.runbook:
        steps.append(f"Follow the runbook: {link(links.runbook, n)}")
    if links.report:
        steps.append(f"Open the drift report: {link(links.report, n)}")
    steps.append(first_look(n))
    if links.hint:
        steps.append(links.hint)
    return steps


def details(n: Notification, links: ModelLinks) -> dict[str, Any]:
    """The evidence: PagerDuty's ``custom_details`` and the webhook's body share it."""
    out: dict[str, Any] = {
        "summary": headline(n),
        "model": n.model,
        "kind": n.kind,
        "status": "resolved" if n.action == "resolve" else "firing",
        "since": n.since(),
        "firing_count": len(n.firing),
        "firing": [member_details(a) for a in n.firing[:_MAX_LISTED]],
        "resolved": [member_details(a) for a in n.resolved[:_MAX_LISTED]],
        "new_since_last_notification": n.new[:_MAX_LISTED],
        "next_steps": next_steps(n, links),
        "route": n.route,
        "incident_key": n.incident_key,
    }
    if links.runbook:
        out["runbook"] = link(links.runbook, n)
    if links.report:
        out["report"] = link(links.report, n)
    return out


def link_for(template: str | None, a: AlertData) -> str | None:
    """A runbook or report URL for one series (URL-quoted names)."""
    if not template:
        return None
    values = {"model": a.model, "kind": a.kind, "feature": a.feature}
    values["segment"] = segment_label(a.segment)
    return template.format(**{k: quote(v, safe="") for k, v in values.items()})
