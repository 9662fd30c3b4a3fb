"""A real Alertmanager (Debian's prometheus-alertmanager) fed by the router."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from detector.routing.config import parse_router_config
from detector.routing.router import Router
from detector.routing.testing import (
    AlertmanagerProcess,
    Receiver,
    RouterThread,
    alert_event,
    produce_alerts,
)

pytestmark = pytest.mark.kafka


def _binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus-alertmanager is not installed (.ci/run installs it)")
        pytest.skip("prometheus-alertmanager is not installed (apt-get install it)")
    return found


def _ours(am: AlertmanagerProcess) -> list[dict[str, Any]]:
    return [a for a in am.alerts() if a["labels"].get("model") == "fraud"]


def _webhook_statuses(rx: Receiver) -> list[tuple[str, str]]:
    """(status, feature) of every alert Alertmanager notified our webhook receiver about."""
    return [
        (alert["status"], alert["labels"]["feature"])
        for r in rx.accepted("/am-webhook")
        for alert in r.body["alerts"]
    ]


def test_alertmanager_lists_the_alert_active_then_resolved(
    kafka_bootstrap: str,
    router_topics: dict[str, str],
    route_config: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    """Firing: listed active with stable labels and numbers in annotations; resolve: gone."""
    alerts = router_topics["alerts"]
    with (
        Receiver(lambda r: 200) as rx,
        AlertmanagerProcess(tmp_path, f"{rx.url}/am-webhook", _binary()) as am,
    ):
        raw = route_config(am.url, sinks=("am",))
        with RouterThread(Router(parse_router_config(raw))):
            produce_alerts(
                kafka_bootstrap, alerts, [alert_event("amount", segment={"country": "DE"})]
            )
            assert rx.wait_for(lambda: len(_ours(am)) == 1)
            (active,) = _ours(am)
            assert active["status"]["state"] == "active"
            assert active["labels"] == {
                "alertname": "FeatureDrift",
                "model": "fraud",
                "kind": "drift",
                "feature": "amount",
                "segment": "country=DE",
                "severity": "critical",
            }
            assert active["annotations"]["value"] == "50.73"
            assert (
                active["annotations"]["runbook_url"] == "https://runbooks.example.com/fraud/amount"
            )
            assert rx.wait_for(lambda: ("firing", "amount") in _webhook_statuses(rx))
            first_update = active["updatedAt"]  # re-sent while firing (resend_interval: 1s)
            assert rx.wait_for(lambda: _ours(am)[0]["updatedAt"] != first_update)
            produce_alerts(
                kafka_bootstrap,
                alerts,
                [alert_event("amount", "resolved", segment={"country": "DE"})],
            )
            assert rx.wait_for(lambda: _ours(am) == [])
            assert rx.wait_for(lambda: ("resolved", "amount") in _webhook_statuses(rx))
