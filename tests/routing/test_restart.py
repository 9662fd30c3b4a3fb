"""Killing the router (SIGKILL, a real process) in the middle of a delivery.

The receiver holds one request open, so the router dies after the receiver took the
notification but before the router saw the answer. Its successor restores the state and sends
that one notification again, and nothing else: a receiver that deduplicates (PagerDuty on
``dedup_key``, a webhook on ``Idempotency-Key``) sees every event exactly once, one that does
not sees it at most twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.routing.testing import Receiver, alert_event, pagerduty_responder, produce_alerts

pytestmark = pytest.mark.kafka
MODELS = ("fraud", "churn")
FEATURES = ("amount", "mcc", "latency", "country_share")


@contextmanager
def _router_process(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``drift-detector route`` as a child process; killed at the end whatever happened."""
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "detector.cli", "route", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=dict(os.environ),
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def _kill_while_held(rx: Receiver, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for the held request, SIGKILL the router, then let the receiver answer 202."""
    assert rx.held.wait(60), log.read_text()[-3000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    rx.hold.clear()
    rx.release.set()
    rx.held.clear()


def _hold_next(rx: Receiver) -> None:
    rx.release.clear()
    rx.hold.set()


def _pd(rx: Receiver) -> list[tuple[str, str]]:
    return [(r.body["event_action"], r.body["dedup_key"]) for r in rx.accepted("/v2/enqueue")]


def _hook(rx: Receiver) -> list[str]:
    return [r.headers["Idempotency-Key"] for r in rx.accepted("/hook")]


def _taken(rx: Receiver, action: str) -> bool:
    """Both sinks took both models' ``action`` (counting distinct events only)."""
    pd = {key for a, key in _pd(rx) if a == action}
    hook = {
        r.headers["Idempotency-Key"] for r in rx.accepted("/hook") if r.body["action"] == action
    }
    return len(pd) == len(hook) == len(MODELS)


def test_kill_mid_delivery_delivers_each_event_once_to_deduplicating_receivers(
    kafka_bootstrap: str,
    router_topics: dict[str, str],
    route_config: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    """Two SIGKILLs mid-request: dedup receivers see each event once, raw ones at most twice."""
    alerts = router_topics["alerts"]
    config, log = tmp_path / "route.yaml", tmp_path / "router.log"
    with Receiver(lambda r: pagerduty_responder(r) if r.path == "/v2/enqueue" else 202) as rx:
        raw = route_config(rx.url, sinks=("pd", "hook"))
        raw["delivery"] = {"initial_backoff": "50ms", "max_backoff": "400ms", "timeout": "60s"}
        # Each model's four alerts (on three partitions) must make one notification: a busy
        # machine can take longer than the default 300ms to fetch them all, and a split burst
        # makes an extra notification that the exact counts below would take for a bug.
        raw["grouping"] = {**raw["grouping"], "group_wait": "2s"}
        config.write_text(yaml.safe_dump(raw, sort_keys=False))  # sinks in order: pd, hook
        _hold_next(rx)
        produce_alerts(
            kafka_bootstrap, alerts, [alert_event(f, model=m) for m in MODELS for f in FEATURES]
        )
        with _router_process(config, log) as first:
            _kill_while_held(rx, first, log)  # PagerDuty took a trigger; no answer came back
        with _router_process(config, log) as second:
            assert rx.wait_for(lambda: _taken(rx, "trigger"), 60), log.read_text()
            _hold_next(rx)
            produce_alerts(
                kafka_bootstrap,
                alerts,
                [alert_event(f, "resolved", model=m) for m in MODELS for f in FEATURES],
            )
            _kill_while_held(rx, second, log)  # PagerDuty took a resolve; no answer came back
        with _router_process(config, log) as third:
            assert rx.wait_for(lambda: _taken(rx, "resolve"), 60), log.read_text()
            third.send_signal(signal.SIGTERM)
            assert third.wait(60) == 0, log.read_text()
    pd, hook = _pd(rx), _hook(rx)
    incidents = {key for _, key in pd}
    assert len(incidents) == len(MODELS)
    # PagerDuty deduplicates on dedup_key: one trigger and one resolve per incident.
    assert set(pd) == {(action, key) for action in ("trigger", "resolve") for key in incidents}
    # A receiver that does not: the two requests in flight at the kills came twice, no more.
    assert sorted(Counter(pd).values()) == [1, 1, 2, 2]
    # The webhook was never in flight at a kill: each notification id exactly once.
    assert len(hook) == len(set(hook)) == 2 * len(MODELS)
    assert "route summary" in log.read_text()
