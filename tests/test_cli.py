"""The command line: replay on the shipped example, config errors, dead-letter file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator

from detector.cli import main

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
