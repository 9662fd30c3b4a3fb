"""``drift-detector check-config`` on router configs: told apart by content, secrets redacted."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from detector.cli import main

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "PAGERDUTY_ROUTING_KEY": "pd-key-8f3a",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/T/B/slack-secret-77",
    "AUDIT_WEBHOOK_URL": "https://audit.example/hook",
    "AUDIT_WEBHOOK_AUTHORIZATION": "Bearer audit-token-42",
}


def test_router_config_is_validated_and_printed_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """examples/route.yaml: exit 0, defaults filled in, no secret value anywhere in the output."""
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    assert main(["check-config", "--config", str(ROOT / "examples" / "route.yaml")]) == 0
    out = capsys.readouterr().out
    printed = orjson.loads(out)
    assert printed["metrics"]["port"] == 9465 and printed["grouping"]["group_wait"] == 30.0
    assert printed["sinks"]["pagerduty"]["routing_key"] == "<redacted>"
    assert printed["sinks"]["slack"]["url"] == "<redacted>"
    assert printed["sinks"]["audit"]["headers"] == {"Authorization": "<redacted>"}
    assert printed["sinks"]["audit"]["url"] == "https://audit.example/hook"  # not a secret
    for secret in ("pd-key-8f3a", "slack-secret-77", "audit-token-42"):
        assert secret not in out


def test_router_config_errors_name_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken router config is a config error (exit 2) naming the router's field, not a
    complaint about detector fields it never had."""
    config = tmp_path / "route.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "topics": {"alerts": "a", "dead_letter": "d", "state": "s", "silences": "q"},
                "sinks": {"hook": {"type": "webhook", "url": "http://127.0.0.1:1/x"}},
                "routes": [{"name": "r", "sinks": ["hok"]}],
                "metrics": {"port": "metrics"},
            }
        )
    )
    assert main(["check-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "metrics.port: Input should be a valid integer" in err
    assert "model" not in err  # the detector's required field: not the config it was checked as


def test_detector_config_is_still_checked_as_one(capsys: pytest.CaptureFixture[str]) -> None:
    """A detector config (no sinks, no routes) goes through the detector's validation."""
    assert main(["check-config", "--config", str(ROOT / "examples" / "fraud.yaml")]) == 0
    printed = orjson.loads(capsys.readouterr().out)
    assert printed["model"] == "fraud" and "sinks" not in printed
