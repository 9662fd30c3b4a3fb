"""Silences: matcher syntax, and ``drift-detector silence add/list/expire`` with a live router."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.cli import main
from detector.errors import ConfigError
from detector.routing.config import parse_router_config
from detector.routing.router import Router
from detector.routing.silences import Silence, SilenceBook, parse_matcher
from detector.routing.testing import (
    Receiver,
    RouterThread,
    alert_event,
    pagerduty_responder,
    produce_alerts,
)


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("feature=amount", {"feature": "amount"}, True),
        ("feature!=amount", {"feature": "amount"}, False),
        ("segment=~country=(DE|FR)", {"segment": "country=FR"}, True),
        ("segment=~country=DE", {"segment": "country=DEU"}, False),  # anchored
        ("severity!~crit.*", {"severity": "warning"}, True),
        ("model=fraud", {}, False),
    ],
)
def test_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    """Alertmanager's four operators; regexes match the whole label value."""
    assert parse_matcher(text).matches(labels) is expected


def test_bad_matchers_are_config_errors() -> None:
    """A matcher without operator or with a broken regex is refused before anything is written."""
    for text in ("amount", "feature=~(", "=x"):
        with pytest.raises(ConfigError, match="--match"):
            parse_matcher(text)


def test_silence_applies_only_between_start_and_end() -> None:
    """An expired silence no longer matches; a tombstone removes it."""
    book = SilenceBook()
    silence = Silence(
        id="s1",
        matchers=[parse_matcher("feature=amount")],
        starts_at=100.0,
        ends_at=200.0,
        created_by="me",
        comment="test",
    )
    book.update(b"s1", silence.model_dump_json().encode())
    alert = alert_event("amount").data
    assert book.silencing(alert, 150.0) == silence
    assert book.silencing(alert, 200.0) is None and book.silencing(alert, 99.0) is None
    assert book.silencing(alert_event("mcc").data, 150.0) is None
    book.update(b"s1", None)
    assert book.silences == {}


@pytest.mark.kafka
def test_cli_silence_suppresses_then_expiry_announces(
    kafka_bootstrap: str,
    router_topics: dict[str, str],
    route_config: Callable[..., dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`silence add` keeps amount out of the page; `silence expire` lets it be announced."""
    config = tmp_path / "route.yaml"
    with Receiver(pagerduty_responder) as rx:
        raw = route_config(rx.url)
        config.write_text(yaml.safe_dump(raw))
        assert (
            main(
                [
                    "silence",
                    "add",
                    "--config",
                    str(config),
                    "--match",
                    "feature=amount",
                    "--match",
                    "model=~fr.*",
                    "--for",
                    "1h",
                    "--comment",
                    "backfill",
                ]
            )
            == 0
        )
        silence_id = capsys.readouterr().out.strip()
        assert main(["silence", "list", "--config", str(config)]) == 0
        listed = capsys.readouterr().out
        assert silence_id in listed and "active" in listed and "feature=amount" in listed
        with RouterThread(Router(parse_router_config(raw))) as router:
            produce_alerts(
                kafka_bootstrap,
                router_topics["alerts"],
                [alert_event("amount"), alert_event("mcc")],
            )
            assert rx.wait_for(lambda: len(rx.accepted()) == 1)
            assert main(["silence", "expire", "--config", str(config), silence_id]) == 0
            assert "expired" in capsys.readouterr().out
            assert rx.wait_for(lambda: len(rx.accepted()) == 2)
        first, second = (r.body["payload"]["custom_details"] for r in rx.accepted())
        assert [m["feature"] for m in first["firing"]] == ["mcc"]
        assert second["new_since_last_notification"] == [alert_event("amount").data.dedup_key]
        assert router.report.silenced == 1
        assert main(["silence", "list", "--config", str(config)]) == 0
        assert silence_id not in capsys.readouterr().out
        assert main(["silence", "list", "--config", str(config), "--all"]) == 0
        assert silence_id in capsys.readouterr().out


def test_cli_rejects_literal_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A routing key written into the file is a config error (exit 2) naming the field."""
    config = tmp_path / "route.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "topics": {"alerts": "a", "dead_letter": "d", "state": "s", "silences": "q"},
                "sinks": {"pd": {"type": "pagerduty", "routing_key": "abc123"}},
                "routes": [{"name": "r", "sinks": ["pd"]}],
            }
        )
    )
    assert main(["silence", "list", "--config", str(config)]) == 2
    assert "sinks.pd.routing_key: a secret; write it as ${VAR}" in capsys.readouterr().err


def test_misspelt_label_is_refused_and_the_valid_ones_listed() -> None:
    """`modle=fraud` would silence nothing: it is an error naming the label and the valid ones."""
    with pytest.raises(ConfigError) as info:
        parse_matcher("modle=fraud")
    message = str(info.value)
    assert "unknown label 'modle'" in message and "did you mean model?" in message
    for label in ("alertname", "model", "kind", "feature", "segment", "severity"):
        assert label in message
    assert parse_matcher("check=null_rate").matches({"check": "null_rate"})  # quality alerts


@pytest.mark.kafka
def test_silence_commands_need_no_sink_secrets_but_route_does(
    router_topics: dict[str, str],
    route_config: Callable[..., dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With the PagerDuty key unset, `silence add/list/expire` work against the broker; a
    misspelt label fails before anything is written; `route` names the missing variable."""
    config = tmp_path / "route.yaml"
    config.write_text(yaml.safe_dump(route_config("http://127.0.0.1:1")))
    monkeypatch.delenv("TEST_PD_ROUTING_KEY")
    add = ["silence", "add", "--config", str(config), "--for", "1h", "--comment", "backfill"]
    assert main([*add, "--match", "modle=fraud"]) == 2
    assert "unknown label 'modle'" in capsys.readouterr().err
    assert main([*add, "--match", "model=fraud"]) == 0
    silence_id = capsys.readouterr().out.strip()
    assert main(["silence", "list", "--config", str(config)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 1 and listed[0].startswith(silence_id) and "model=fraud" in listed[0]
    assert main(["silence", "expire", "--config", str(config), silence_id]) == 0
    assert "expired" in capsys.readouterr().out
    assert main(["route", "--config", str(config)]) == 2
    assert "sinks.pd.routing_key: environment variable TEST_PD_ROUTING_KEY" in (
        capsys.readouterr().err
    )
