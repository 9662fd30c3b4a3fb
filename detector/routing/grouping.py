"""Noise control: groups, group wait and interval, repeat interval, flap hold and silences.

A group is one route's alerts sharing the ``group_by`` labels (default: model and kind). Its
members are series (one per alert ``dedup_key``). A group turns member changes into at most one
notification per ``group_interval``, after a ``group_wait`` that lets a burst (twenty features
drifting after one upstream deploy) land in one notification:

- a newly firing member makes the group *dirty*; the first notification of an incident goes
  ``group_wait`` after that, later ones no sooner than ``group_interval`` after the previous one;
- a resolved member is held ``flap_window`` first; if it fires again meanwhile nothing is sent
  (the series flapped and pages once), otherwise its resolution makes the group dirty;
- the incident (one PagerDuty incident, ``incident_key``) resolves when no announced member
  fires any more; a still-firing incident is re-sent every ``repeat_interval``;
- a silenced member is not announced; once announced, a member stays in its incident until it
  resolves (a silence never fakes a resolution). When the silence ends, a still-firing member
  is announced.

Time is passed in (``now``, epoch seconds): nothing here reads a clock, so tests drive it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from detector.alerts import AlertData, segment_label
from detector.routing.config import GroupingConfig
from detector.routing.notifications import Notification, Reason

MemberState = Literal["firing", "resolving", "resolved"]
_MAX_KEY = 255  # PagerDuty's dedup_key limit


def bounded_key(key: str) -> str:
    """``key`` itself when short enough, else a prefix and a digest (stable, <= 255 chars)."""
    if len(key) <= _MAX_KEY:
        return key
    return f"{key[: _MAX_KEY - 17]}~{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def group_values(alert: AlertData, group_by: Sequence[str]) -> list[str]:
    labels = {
        "model": alert.model,
        "kind": alert.kind,
        "feature": alert.feature,
        "segment": segment_label(alert.segment),
        "severity": alert.severity,
    }
    return [labels[name] for name in group_by]


@dataclass
class Member:
    """One series of a group. ``alert`` is its latest firing evidence."""

    alert: AlertData
    state: MemberState = "firing"
    notified: bool = False
    silenced: bool = False
    resolve_at: float | None = None
    resolved_alert: AlertData | None = None
    flaps: int = 0
    changed_at: float | None = None  # alert time of the resolution being held

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["alert"] = self.alert.model_dump(mode="json")
        if self.resolved_alert is not None:
            out["resolved_alert"] = self.resolved_alert.model_dump(mode="json")
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Member:
        fields = dict(data)
        fields["alert"] = AlertData.model_validate(data["alert"])
        if data.get("resolved_alert") is not None:
            fields["resolved_alert"] = AlertData.model_validate(data["resolved_alert"])
        return cls(**fields)


@dataclass
class Group:
    """One route's group; ``outbox`` holds notifications not yet accepted by every sink."""

    key: str
    route: str
    model: str
    kind: str
    sinks: list[str]
    members: dict[str, Member] = field(default_factory=dict)
    incident: str | None = None
    dirty_since: float | None = None
    last_notified: float | None = None
    seq: int = 0
    outbox: list[Notification] = field(default_factory=list)
    holds: dict[int, int] = field(default_factory=dict)  # partition -> lowest undelivered offset
    revision: int = 0  # bumped by every change that must be written before anything is sent
    alert_time: float | None = None  # earliest alert behind the changes not yet notified

    def apply(
        self,
        alert: AlertData,
        now: float,
        grouping: GroupingConfig,
        silenced: bool,
        alert_time: float | None = None,
    ) -> None:
        """Fold one alert event of a member into the group; ``alert_time``: when it was written
        (default ``now``), the start of its notification's delivery latency."""
        self.revision += 1
        at = now if alert_time is None else alert_time
        member = self.members.get(alert.dedup_key)
        if alert.status == "firing":
            if member is None:
                self.members[alert.dedup_key] = Member(alert, silenced=silenced)
                if not silenced:
                    self._dirty(now, at)
                return
            if member.state != "firing":  # fired again within the flap window
                member.flaps += 1
                member.state, member.resolve_at, member.resolved_alert = "firing", None, None
            member.alert = alert
        elif member is not None and member.state == "firing":
            member.state = "resolving"
            member.resolve_at = now + grouping.flap_window
            member.resolved_alert = alert
            member.changed_at = at

    def tick(
        self, now: float, grouping: GroupingConfig, is_silenced: Callable[[AlertData], bool]
    ) -> Notification | None:
        """Advance timers; return the notification that is due, if any (also in ``outbox``)."""
        for key, member in list(self.members.items()):
            due = member.resolve_at
            if member.state == "resolving" and due is not None and now >= due:
                member.state, member.resolve_at = "resolved", None
                if member.notified:
                    self._dirty(now, member.changed_at)
                else:  # never announced: nobody needs to hear it ended
                    del self.members[key]
                    continue
            if not member.notified and member.state == "firing":
                silenced = is_silenced(member.alert)
                if member.silenced and not silenced:
                    self._dirty(now, now)  # announced from the silence's end
                member.silenced = silenced
        if self.dirty_since is not None:
            due = self.dirty_since + grouping.group_wait
            if self.last_notified is not None:
                due = max(due, self.last_notified + grouping.group_interval)
            return self._notify(now, None) if now >= due else None
        repeat = grouping.repeat_interval
        last = self.last_notified
        if self.incident and last is not None and repeat > 0 and now >= last + repeat:
            return self._notify(now, "repeat")
        return None

    def settled(self) -> bool:
        """Nothing left to tell: the records applied so far need not be consumed again."""
        return (
            self.dirty_since is None
            and not self.outbox
            and all(m.state != "resolving" or not m.notified for m in self.members.values())
        )

    def hold(self, partition: int, offset: int) -> None:
        self.holds[partition] = min(self.holds.get(partition, offset), offset)

    def release(self) -> bool:
        """Forget the holds once settled; True if that changed anything."""
        if self.holds and self.settled():
            self.holds.clear()
            self.revision += 1
            return True
        return False

    def delivered(self, notification: Notification, sink: str) -> None:
        """Record that ``sink`` took ``notification`` (accepted or dead-lettered)."""
        notification.sinks_done.append(sink)
        if not notification.pending_sinks():
            self.outbox.remove(notification)
        self.revision += 1

    def head(self, sink: str) -> Notification | None:
        """The oldest notification ``sink`` has not taken (per group, order is kept)."""
        return next((n for n in self.outbox if sink in n.pending_sinks()), None)

    def firing_alerts(self) -> list[AlertData]:
        """The announced members that still fire (what Alertmanager must keep hearing)."""
        return [m.alert for m in self.members.values() if m.notified and m.state != "resolved"]

    def _dirty(self, now: float, alert_time: float | None) -> None:
        if self.dirty_since is None:
            self.dirty_since = now
        at = now if alert_time is None else alert_time
        self.alert_time = at if self.alert_time is None else min(self.alert_time, at)

    def _notify(self, now: float, reason: Reason | None) -> Notification | None:
        self.dirty_since = None
        alert_time, self.alert_time = self.alert_time, None
        # An announced member is never silenced (silences are checked before announcing).
        firing = [m for m in self.members.values() if m.state != "resolved" and not m.silenced]
        told = [m for m in self.members.values() if m.state == "resolved"]
        changed = told or any(not m.notified for m in firing)
        if (not firing and not told) or (reason is None and self.incident and not changed):
            return None  # only silenced members, or a flap undid the only change
        if firing:
            action: Literal["trigger", "resolve"] = "trigger"
            if self.incident is None:
                since = min(m.alert.started_at for m in firing)
                self.incident = bounded_key(f"{self.key}/{since}")
                reason = "new"
            new = [m.alert.dedup_key for m in firing if not m.notified]
            for m in firing:
                m.notified = True
        else:
            action, reason, new = "resolve", "resolve", []
        self.seq += 1
        ident = f"{self.key}|{self.incident}|{self.seq}"
        notification = Notification(
            id=hashlib.sha256(ident.encode()).hexdigest()[:32],
            group=self.key,
            route=self.route,
            incident_key=self.incident or "",
            action=action,
            reason=reason or "update",
            model=self.model,
            kind=self.kind,
            created_at=now,
            sinks=list(self.sinks),
            firing=[m.alert for m in firing],
            resolved=[m.resolved_alert or m.alert for m in told],
            new=new,
            alert_time=alert_time,
        )
        self.outbox.append(notification)
        self.revision += 1
        for m in told:
            del self.members[m.alert.dedup_key]
        self.last_notified = now
        if action == "resolve":
            self.incident, self.last_notified = None, None
        return notification

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["members"] = {k: m.to_json() for k, m in self.members.items()}
        out["outbox"] = [n.to_json() for n in self.outbox]
        out["holds"] = {str(p): o for p, o in self.holds.items()}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Group:
        fields = dict(data)
        fields["members"] = {k: Member.from_json(m) for k, m in data["members"].items()}
        fields["outbox"] = [Notification.from_json(n) for n in data["outbox"]]
        fields["holds"] = {int(p): o for p, o in data["holds"].items()}
        return cls(**fields)
