"""No broker: librdkafka's repeated connection errors become one clear line, not hundreds.

Real clients against a port where nothing listens (a socket bound to it but not listening, so
no other process can take it meanwhile: connecting is refused). The assertions count stderr
lines; nothing waits on the clock.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from detector.kafka.clients import ConnectionErrors

ROOT = Path(__file__).resolve().parents[1]
RAW_LIBRDKAFKA = "%3|"  # how librdkafka's own stderr lines start (level 3: FAIL)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connects get RST
        yield int(sock.getsockname()[1])


def test_clients_report_a_refused_cluster_once(closed_port: int) -> None:
    """An admin client's metadata request and a consumer's polling, both to a closed port:
    stderr holds one line naming the servers and what to check, then the clear error; the
    dozens of repeats are counted, not printed."""
    script = textwrap.dedent(
        f"""
        import sys
        from confluent_kafka import Consumer
        from confluent_kafka.admin import AdminClient
        from detector.errors import KafkaBoundaryError
        from detector.kafka.clients import connection_errors, create_client, list_topics
        from detector.observability.logs import configure_logging, emit_error

        configure_logging("INFO", "text")
        props = {{"bootstrap.servers": "127.0.0.1:{closed_port}"}}
        errors = connection_errors(props["bootstrap.servers"])
        consumer = create_client(Consumer, {{**props, "group.id": "noise"}})
        for _ in range(600):  # bounded; ends as soon as enough attempts were refused
            consumer.consume(10, 0.1)
            if errors.repeats >= 20:
                break
        consumer.close()
        admin = create_client(AdminClient, props)
        try:
            list_topics(admin, props, 3.0)
        except KafkaBoundaryError as exc:
            emit_error(str(exc))
        print(errors.repeats)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    lines = done.stderr.splitlines()
    assert RAW_LIBRDKAFKA not in done.stderr
    assert len(lines) == 2, done.stderr
    assert f"cannot connect to Kafka at 127.0.0.1:{closed_port}: " in lines[0]
    assert "Connection refused" in lines[0] and "kafka.bootstrap.servers" in lines[0]
    assert lines[1].startswith(
        f"drift-detector: cannot read topic metadata from 127.0.0.1:{closed_port} within 3s"
    )
    assert int(done.stdout) >= 20  # the repeats happened, and none was printed


def test_run_and_silence_list_without_broker_print_a_few_lines(
    closed_port: int, tmp_path: Path
) -> None:
    """`run` and `silence list` against a closed port (about 580 librdkafka lines each before):
    the condensed connection error, then the command's error, exit 1."""
    config = yaml.safe_load((ROOT / "examples" / "fraud.yaml").read_text())
    config["metrics"] = {"enabled": False}
    detector_config = tmp_path / "fraud.yaml"
    detector_config.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port}",
        "PAGERDUTY_ROUTING_KEY": "k",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.example/x",
        "AUDIT_WEBHOOK_URL": "https://audit.example/x",
        "AUDIT_WEBHOOK_AUTHORIZATION": "a",
    }
    cli = [sys.executable, "-m", "detector.cli"]
    commands = {
        "run": [*cli, "run", "--config", str(detector_config)],
        "silence": [*cli, "silence", "list", "--config", str(ROOT / "examples" / "route.yaml")],
    }
    procs = {  # both at once: each waits out its metadata timeout
        name: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for name, cmd in commands.items()
    }
    results = {name: proc.communicate(timeout=180) for name, proc in procs.items()}
    for name, (_, err) in results.items():
        stderr = err.decode()
        lines = stderr.splitlines()
        assert procs[name].returncode == 1, (name, stderr)
        assert RAW_LIBRDKAFKA not in stderr, name
        assert len(lines) == 2, (name, stderr)
        assert f"cannot connect to Kafka at 127.0.0.1:{closed_port}" in lines[0], name
        assert lines[1].startswith("drift-detector: cannot read"), name


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_repeats_are_summarised_at_most_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first error in full, repeats counted, one summary per interval at most, and an
    error after a quiet interval starts a new outage (reported in full again)."""
    clock = _Clock()
    errors = ConnectionErrors("b:9092", interval=60.0, clock=clock)
    caplog.set_level(logging.INFO, logger="detector.kafka")
    for _ in range(400):  # 50 s of attempts every 0.125 s: no summary yet
        errors.failed("Connect to b:9092 failed: Connection refused")
        clock.now += 0.125
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    for _ in range(160):  # the next 20 s: one summary when 60 s have passed
        errors.failed("Connect to b:9092 failed: Connection refused")
        clock.now += 0.125
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]
    assert "b:9092: 480 more connection errors in 60s" in caplog.records[1].getMessage()
    errors.failed("twin report of the last one", count=False)  # error_cb's copy: not counted
    clock.now += 120  # quiet: the cluster came back
    errors.failed("Connect to b:9092 failed: Connection refused")
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING", "ERROR"]
