"""The command line: replay on the shipped example, config errors, dead-letter file."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator

from detector.cli import _parser, main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "examples" / "fraud.yaml"
EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"


def test_replay_example_finds_the_injected_drift() -> None:
    """The shipped example file (amount +1 sd for country=DE) alerts on exactly that first."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "detector.cli",
            "replay",
            "--config",
            str(EXAMPLE_CONFIG),
            "--input",
            str(EXAMPLE_EVENTS),
        ],
        capture_output=True,
        check=True,
    )
    alerts = [orjson.loads(line) for line in done.stdout.splitlines()]
    schema = json.loads((ROOT / "detector" / "schemas" / "alert.v1.schema.json").read_text())
    for alert in alerts:
        Draft202012Validator(schema).validate(alert)
    first = alerts[0]["data"]
    assert (first["feature"], first["segment"], first["status"]) == (
        "amount",
        {"country": "DE"},
        "firing",
    )
    assert b'replay summary: {"records":6000,"rejected":{}' in done.stderr


def test_replay_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    """Two replays of the same file print identical alert bytes (ids included)."""
    args = ["replay", "--config", str(EXAMPLE_CONFIG), "--input", str(EXAMPLE_EVENTS)]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first and first


def test_replay_writes_rejected_lines_to_dead_letter_file(tmp_path: Path) -> None:
    """Bad lines are kept with record number and reason in --dead-letter, not dropped."""
    events = tmp_path / "events.jsonl"
    good = EXAMPLE_EVENTS.read_bytes().splitlines()[:3]
    events.write_bytes(b"\n".join([good[0], b"{oops", good[1], b"[1]", good[2]]) + b"\n")
    dlq = tmp_path / "dlq.jsonl"
    code = main(
        [
            "replay",
            "--config",
            str(EXAMPLE_CONFIG),
            "--input",
            str(events),
            "--dead-letter",
            str(dlq),
        ]
    )
    assert code == 0
    rows = [orjson.loads(line) for line in dlq.read_bytes().splitlines()]
    assert [(r["record"], r["reason"], r["value"]) for r in rows] == [
        (2, "not_json", "{oops"),
        (4, "not_object", "[1]"),
    ]


def test_bad_config_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid config fails at start with exit code 2 and the field's name."""
    config = tmp_path / "bad.yaml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace("type: categorical", "type: category"))
    assert main(["check-config", "--config", str(config)]) == 2
    assert "features.1.type" in capsys.readouterr().err


def test_missing_input_file_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing --input is a clear error, not a traceback."""
    code = main(["replay", "--config", str(EXAMPLE_CONFIG), "--input", "/nonexistent.jsonl"])
    assert code == 2
    assert "--input: cannot read /nonexistent.jsonl" in capsys.readouterr().err


def test_run_rejects_config_before_touching_kafka(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No kafka.group.id: exit 2 naming the field at once, even with an unreachable broker."""
    config = tmp_path / "nogroup.yaml"
    text = EXAMPLE_CONFIG.read_text().replace("  group.id: drift-detector-fraud\n", "")
    config.write_text(text.replace("${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}", "127.0.0.1:1"))
    assert main(["run", "--config", str(config)]) == 2
    assert "kafka.group.id: required" in capsys.readouterr().err


SECRETS = {
    "DD_T_SASL_PASSWORD": "sasl-pw-5b1e",
    "DD_T_CLIENT_SECRET": "oauth-secret-9c2d",
    "DD_T_KEY_PASSWORD": "key-pw-77aa",
    "DD_T_SR_USER_INFO": "sr-user:sr-pw-31f0",
    "PAGERDUTY_ROUTING_KEY": "pd-routing-key-4e8a",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/T0/B0/slack-secret-62d1",
    "AUDIT_WEBHOOK_URL": "https://audit.example/hook",
    "AUDIT_WEBHOOK_AUTHORIZATION": "Bearer audit-token-0b97",
}
SECRET_VALUES = [v for k, v in SECRETS.items() if k != "AUDIT_WEBHOOK_URL"]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "detector.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_check_config_redacts_detector_secrets(tmp_path: Path) -> None:
    """check-config prints the resolved config without any credential from the environment:
    sasl.password, sasl.oauthbearer.client.secret, ssl.key.password, basic.auth.user.info."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["kafka"].update(
        {
            "security.protocol": "SASL_SSL",
            "sasl.password": "${DD_T_SASL_PASSWORD}",
            "sasl.oauthbearer.client.secret": "${DD_T_CLIENT_SECRET}",
            "ssl.key.password": "${DD_T_KEY_PASSWORD}",
            "schema.registry.basic.auth.user.info": "${DD_T_SR_USER_INFO}",
        }
    )
    config = tmp_path / "secret.yaml"
    config.write_text(yaml.safe_dump(data))
    done = _cli("check-config", "--config", str(config), env=SECRETS)
    assert done.returncode == 0, done.stderr
    printed = orjson.loads(done.stdout)
    assert printed["kafka"]["sasl.password"] == "<redacted>"
    assert printed["kafka"]["schema.registry.basic.auth.user.info"] == "<redacted>"
    assert printed["kafka"]["security.protocol"] == "SASL_SSL"  # the rest is shown
    for secret in [*SECRET_VALUES, "sr-pw-31f0"]:
        assert secret not in done.stdout + done.stderr


def test_check_config_redacts_router_secrets() -> None:
    """The router example, secrets from the environment: PagerDuty routing_key, the Slack URL
    and webhook header values never reach stdout or stderr."""
    done = _cli("check-config", "--config", str(ROOT / "examples" / "route.yaml"), env=SECRETS)
    assert done.returncode == 0, done.stderr
    sinks = orjson.loads(done.stdout)["sinks"]
    assert sinks["pagerduty"]["routing_key"] == "<redacted>"
    assert sinks["slack"]["url"] == "<redacted>"
    assert sinks["audit"]["headers"] == {"Authorization": "<redacted>"}
    for secret in SECRET_VALUES:
        assert secret not in done.stdout + done.stderr


def test_malformed_reference_is_a_config_error_without_the_value(tmp_path: Path) -> None:
    """`${VAR` in a secret: exit 2 at load, naming the field and the reference, not the value."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["kafka"]["sasl.password"] = "${DD_T_SASL_PASSWORD"
    config = tmp_path / "typo.yaml"
    config.write_text(yaml.safe_dump(data))
    done = _cli("run", "--config", str(config), env=SECRETS)
    assert done.returncode == 2
    assert "kafka.sasl.password: malformed reference ${DD_T_SASL_PASSWORD: no closing }" in (
        done.stderr
    )
    assert SECRETS["DD_T_SASL_PASSWORD"] not in done.stdout + done.stderr


def _parsers(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, Any]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"{name} {choice.dest}: subcommand without help"
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_option_of_every_subcommand_has_help() -> None:
    """Walks the whole parser (silence add/list/expire included): no option without help."""
    missing = []
    walked = list(_parsers(_parser(), "drift-detector"))
    for name, parser in walked:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, f"options without help: {missing}"
    assert len(walked) >= 10  # run, replay, ..., silence add/list/expire: the walk went deep


@pytest.mark.parametrize(
    ("argv", "level", "fmt"),
    [
        (["check-config", "--config", "c.yaml"], "INFO", "text"),
        (["--log-format", "json", "check-config", "--config", "c.yaml"], "INFO", "json"),
        (["check-config", "--config", "c.yaml", "--log-format", "json"], "INFO", "json"),
        (
            ["--log-level", "DEBUG", "check-config", "--log-format", "json", "--config", "c"],
            "DEBUG",
            "json",
        ),
        (
            ["--log-format", "json", "run", "--config", "c.yaml", "--log-format", "text"],
            "INFO",
            "text",
        ),
        (["silence", "list", "--config", "r.yaml", "--log-level", "warning"], "WARNING", "text"),
        (
            ["--log-level", "ERROR", "silence", "--log-format", "json", "list", "--config", "r"],
            "ERROR",
            "json",
        ),
    ],
)
def test_global_flags_parse_before_or_after_the_subcommand(
    argv: list[str], level: str, fmt: str
) -> None:
    """A flag after the subcommand wins; an absent one keeps the value given before it."""
    args = _parser().parse_args(argv)
    assert (args.log_level, args.log_format) == (level, fmt)


def test_global_flags_after_the_subcommand_take_effect(tmp_path: Path) -> None:
    """`replay ... --log-format json`: the summary on stderr is a JSON log line; a config error
    after `check-config ... --log-format json` too."""
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(EXAMPLE_EVENTS.read_bytes().splitlines()[:200]) + b"\n")
    done = _cli(
        "replay", "--config", str(EXAMPLE_CONFIG), "--input", str(events), "--log-format", "json"
    )
    assert done.returncode == 0, done.stderr
    lines = [orjson.loads(line) for line in done.stderr.splitlines()]
    assert [line["message"] for line in lines] == ["replay summary"]
    assert lines[0]["summary"]["records"] == 200
    bad = _cli("check-config", "--config", str(tmp_path / "absent.yaml"), "--log-format", "json")
    assert bad.returncode == 2
    error = orjson.loads(bad.stderr)
    assert error["level"] == "ERROR" and "cannot read config" in error["message"]
