"""Noise control, driven by a hand-held clock: grouping, waits, repeats, flaps, silences."""

from __future__ import annotations

from typing import Any

import orjson

from detector.alerts import AlertData
from detector.routing.config import GroupingConfig
from detector.routing.grouping import Group, bounded_key
from detector.routing.notifications import Notification
from detector.routing.testing import alert_event

G = GroupingConfig(group_wait=30, group_interval=300, repeat_interval=3600, flap_window=600)


def _alert(feature: str, status: str = "firing", **kw: Any) -> AlertData:
    return alert_event(feature, status, **kw).data


def _never(alert: AlertData) -> bool:
    return False


def _group() -> Group:
    return Group("pages/fraud/drift", "pages", "fraud", "drift", ["pd"])


def _run(group: Group, start: float, end: float, step: float = 1.0) -> list[Notification]:
    out = []
    t = start
    while t <= end:
        n = group.tick(t, G, _never)
        if n is not None:
            out.append(n)
        t += step
    return out


def test_twenty_features_at_once_make_one_trigger() -> None:
    """A burst of 20 drifting features within group_wait becomes one notification listing all."""
    group = _group()
    for i in range(20):
        group.apply(
            _alert(f"f{i:02d}", started=41.0 + i * 0.1), now=1000.0 + i, grouping=G, silenced=False
        )
    sent = _run(group, 1000, 1100)
    assert [(n.action, n.reason, len(n.firing)) for n in sent] == [("trigger", "new", 20)]
    assert sent[0].created_at == 1030.0  # group_wait after the first alert
    assert sent[0].incident_key == "pages/fraud/drift/2026-01-01T00:00:41.000Z"
    assert sorted(sent[0].new) == sorted(a.dedup_key for a in sent[0].firing)


def test_resolve_only_when_every_member_resolved_and_after_flap_window() -> None:
    """The incident resolves once all members stayed resolved for flap_window."""
    group = _group()
    for f in ("amount", "mcc"):
        group.apply(_alert(f), 0.0, G, False)
    assert len(_run(group, 0, 40)) == 1
    group.apply(_alert("amount", "resolved"), 100.0, G, False)
    update = _run(group, 100, 1000)  # mcc still fires: amount's resolution is an update
    assert [(n.action, n.created_at, len(n.firing), len(n.resolved)) for n in update] == [
        ("trigger", 730.0, 1, 1)
    ]
    group.apply(_alert("mcc", "resolved"), 1000.0, G, False)
    sent = _run(group, 1000, 2000)
    assert [(n.action, n.incident_key, n.created_at) for n in sent] == [
        ("resolve", "pages/fraud/drift/2026-01-01T00:00:41.710Z", 1630.0)
    ]
    assert group.incident is None and group.members == {}


def test_flapping_series_pages_once() -> None:
    """firing -> resolved -> firing within flap_window: one trigger, nothing else."""
    group = _group()
    group.apply(_alert("amount"), 0.0, G, False)
    for t in (100.0, 300.0, 500.0):
        group.apply(_alert("amount", "resolved"), t, G, False)
        group.apply(_alert("amount"), t + 60, G, False)
    sent = _run(group, 0, 3000)
    assert [n.reason for n in sent] == ["new"]
    assert group.members[_alert("amount").dedup_key].flaps == 3


def test_late_member_updates_after_group_interval_and_repeats() -> None:
    """A member joining later is sent as an update no sooner than group_interval; repeats follow."""
    group = _group()
    group.apply(_alert("amount"), 0.0, G, False)
    sent = _run(group, 0, 90, step=10)
    group.apply(_alert("mcc"), 100.0, G, False)
    sent += _run(group, 100, 4000, step=10)
    assert [(n.reason, n.created_at, len(n.firing)) for n in sent] == [
        ("new", 30.0, 1),
        ("update", 330.0, 2),
        ("repeat", 3930.0, 2),
    ]
    assert sent[1].new == [_alert("mcc").dedup_key]
    assert len({n.incident_key for n in sent}) == 1


def test_silenced_member_is_announced_when_the_silence_ends() -> None:
    """A silenced series pages nobody; if it still fires after the silence, it is announced."""
    group = _group()
    group.apply(_alert("amount"), 0.0, G, silenced=True)
    assert all(group.tick(t, G, lambda a: True) is None for t in range(0, 500, 10))
    sent = [n for t in range(500, 600, 10) if (n := group.tick(t, G, lambda a: False))]
    assert [(n.reason, n.created_at) for n in sent] == [("new", 530)]


def test_silenced_blip_never_pages() -> None:
    """Firing then resolved while silenced: no notification at all, and the group empties."""
    group = _group()
    group.apply(_alert("amount"), 0.0, G, silenced=True)
    group.apply(_alert("amount", "resolved"), 10.0, G, silenced=True)
    assert [n for t in range(0, 2000, 10) if (n := group.tick(t, G, lambda a: True))] == []
    assert group.members == {} and group.settled()


def test_state_round_trips_through_json_mid_episode() -> None:
    """A group restored from its JSON makes the same decisions as the original."""
    group = _group()
    group.apply(_alert("amount"), 0.0, G, False)
    _run(group, 0, 40)
    group.apply(_alert("mcc"), 50.0, G, False)
    group.apply(_alert("amount", "resolved"), 60.0, G, False)
    group.hold(0, 17)
    copy = Group.from_json(orjson.loads(orjson.dumps(group.to_json())))
    assert copy.to_json() == group.to_json()
    assert [n.to_json() for n in _run(copy, 60, 5000, 10)] == [
        n.to_json() for n in _run(group, 60, 5000, 10)
    ]


def test_settled_only_when_nothing_is_pending() -> None:
    """Holds stay while a change, a flap hold or an undelivered notification is pending."""
    group = _group()
    group.apply(_alert("amount"), 0.0, G, False)
    group.hold(0, 5)
    assert not group.settled() and not group.release()
    notification = group.tick(30.0, G, _never)
    assert notification is not None and not group.settled()
    group.delivered(notification, "pd")
    assert group.settled() and group.release() and group.holds == {}


def test_bounded_key_keeps_pagerduty_limit() -> None:
    """Long incident keys are cut to 255 characters with a stable digest."""
    key = bounded_key("r/" + "x" * 400)
    assert len(key) == 255 and key == bounded_key("r/" + "x" * 400)
