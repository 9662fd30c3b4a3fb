"""JSON logs: one object per line on stderr, summaries and errors included; text stays default."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from detector.observability.logs import JsonFormatter, configure_logging, current_format

ROOT = Path(__file__).absolute().parents[2]
EXAMPLE_CONFIG = ROOT / "examples" / "fraud.yaml"
EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "detector.cli", *args],
        capture_output=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_formatter_keeps_a_traceback_on_one_line() -> None:
    """An exception is a field of the same JSON object, so the line count stays one."""
    logger = logging.getLogger("detector.test.logs")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info()
        )
    line = JsonFormatter().format(record)

    assert "\n" not in line
    fields = orjson.loads(line)
    assert fields["level"] == "ERROR" and fields["message"] == "failed x"
    assert fields["logger"] == "detector.test.logs"
    assert "ValueError: boom" in fields["exception"]
    assert fields["time"].endswith("Z") and len(fields["time"]) == 24


def test_configure_twice_installs_one_handler() -> None:
    """Reconfiguring replaces our handler instead of adding a second one."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    try:
        configure_logging("INFO", "json", stream)
        configure_logging("INFO", "json", stream)
        logging.getLogger("detector.test").info("hello", extra={"partition": 3})
        # Whatever an earlier test (or the CLI) configured, exactly one handler is ours.
        assert sum(type(h).__name__ == "_StderrHandler" for h in root.handlers) == 1
        assert current_format() == "json"
    finally:
        configure_logging("WARNING", "text")
        root.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert orjson.loads(lines[0])["partition"] == 3


def test_replay_with_json_logs() -> None:
    """Every stderr line is a JSON object, the summary included; stdout (alerts) is unchanged."""
    args = ["replay", "--config", str(EXAMPLE_CONFIG), "--input", str(EXAMPLE_EVENTS)]

    as_json = _cli("--log-format", "json", *args)
    as_text = _cli(*args)

    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stdout == as_text.stdout and as_json.stdout
    lines = [orjson.loads(line) for line in as_json.stderr.splitlines()]
    summaries = [line for line in lines if line["message"] == "replay summary"]
    assert len(summaries) == 1
    assert summaries[0]["summary"]["records"] == 6000
    assert summaries[0]["level"] == "INFO"
    assert b"replay summary: {" in as_text.stderr


def test_config_error_as_json(tmp_path: Path) -> None:
    """A bad config exits 2 with one ERROR object naming the field, and no traceback."""
    bad = tmp_path / "bad.yaml"
    text = EXAMPLE_CONFIG.read_text().replace("type: categorical", "type: nominal")
    bad.write_text(text)

    done = _cli("--log-format", "json", "check-config", "--config", str(bad))

    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    error = orjson.loads(line)
    assert error["level"] == "ERROR"
    assert "features.1.type" in error["message"]


@pytest.mark.parametrize("value", ["xml", ""])
def test_unknown_log_format_is_refused(value: str) -> None:
    """Only text and json are accepted (exit 2, argparse's usage error)."""
    done = _cli("--log-format", value, "check-config", "--config", str(EXAMPLE_CONFIG))
    assert done.returncode == 2
    assert b"--log-format" in done.stderr
