"""The local broker helper (``make kafka`` / ``make demo``) only reports success for its own broker.

Every case starts real brokers on ports the test picked free, with their own work dirs; a port
"held" by something else is held by a socket or a broker this test owns.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from detector.testing.kafka_broker import LocalKafkaBroker, free_port, kafka_cluster_id

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[1]
LIB_DIR = ROOT / ".kafka" / "lib"
HELPER = [sys.executable, "-m", "detector.testing.kafka_broker"]


def _ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _start(
    workdir: Path, port: int, controller: int, *extra: str
) -> subprocess.CompletedProcess[str]:
    cmd = [*HELPER, "start", "--dir", str(workdir), "--lib-dir", str(LIB_DIR)]
    cmd += ["--port", str(port), "--controller-port", str(controller), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)


def _stop(workdir: Path) -> None:
    cmd = [*HELPER, "stop", "--dir", str(workdir)]
    subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture
def other_broker(tmp_path: Path) -> Iterator[LocalKafkaBroker]:
    """Someone else's broker (its own work dir) on free ports."""
    port, controller = _ports(2)
    with LocalKafkaBroker(tmp_path / "other", port, controller, LIB_DIR) as broker:
        yield broker


def _assert_nothing_of_ours(workdir: Path, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Kafka started" not in result.stdout
    assert not (workdir / "broker.pid").exists()


def test_dies_on_a_bound_controller_port_and_says_so(tmp_path: Path) -> None:
    """A socket bound (not listening) to the controller port passes the port check, and Kafka
    then dies binding it: a failure naming the clash, not "Kafka started"."""
    port, controller = _ports(2)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", controller))
        result = _start(tmp_path / "mine", port, controller)
    _assert_nothing_of_ours(tmp_path / "mine", result)
    assert "Kafka exited with code" in result.stderr
    assert f"failed to bind to 127.0.0.1:{controller}: Address already in use" in result.stderr


def test_a_plain_listener_on_the_controller_port_is_a_failure(tmp_path: Path) -> None:
    """A plain TCP listener on the controller port: refused before starting, said to be no
    Kafka broker."""
    port, controller = _ports(2)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", controller))
        holder.listen()
        result = _start(tmp_path / "mine", port, controller)
    _assert_nothing_of_ours(tmp_path / "mine", result)
    assert f"port 127.0.0.1:{controller} is already in use" in result.stderr


def test_another_broker_on_our_ports_is_never_reported_as_ours(
    tmp_path: Path, other_broker: LocalKafkaBroker
) -> None:
    """Another broker holds the controller port, or the client port: the start fails (and says
    whose cluster answers); with --if-taken reuse it is used, said to be someone else's."""
    mine = tmp_path / "mine"
    free = free_port()
    on_controller = _start(mine, free, other_broker.controller_port)
    _assert_nothing_of_ours(mine, on_controller)
    on_port = _start(mine, other_broker.port, free)
    _assert_nothing_of_ours(mine, on_port)
    assert f"a Kafka broker, cluster id {other_broker.cluster_id()}" in on_port.stderr
    bootstrap = tmp_path / "bootstrap"
    reused = _start(
        mine, other_broker.port, free, "--if-taken", "reuse", "--bootstrap-file", str(bootstrap)
    )
    assert reused.returncode == 0, reused.stderr
    assert "it was not started from" in reused.stdout and "using it" in reused.stdout
    assert bootstrap.read_text().strip() == other_broker.bootstrap_servers
    assert not (mine / "broker.pid").exists()


def test_a_taken_port_moves_the_demo_broker_to_free_ports(tmp_path: Path) -> None:
    """--if-taken reuse-or-free (make demo's default) with the port held by something that is
    not Kafka: our broker starts elsewhere, says where, and the address file points at it; a
    second start finds it running there."""
    port, controller = _ports(2)
    workdir, bootstrap = tmp_path / "mine", tmp_path / "bootstrap"
    extra = ("--if-taken", "reuse-or-free", "--bootstrap-file", str(bootstrap))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        try:
            first = _start(workdir, port, controller, *extra)
            assert first.returncode == 0, first.stderr
            address = bootstrap.read_text().strip()
            assert address != f"127.0.0.1:{port}"
            assert f"Kafka started on {address}" in first.stdout
            mine = LocalKafkaBroker(workdir, int(address.rsplit(":", 1)[1]), controller, LIB_DIR)
            assert kafka_cluster_id(mine.port) == mine.cluster_id() is not None
            again = _start(workdir, port, controller, *extra)
            assert again.returncode == 0, again.stderr
            assert f"Kafka already running on {address}" in again.stdout
        finally:
            _stop(workdir)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_kafka_fails_on_a_taken_port(tmp_path: Path) -> None:
    """`make kafka` (its recipe alone: KAFKA_DEPS empty) on a port a plain listener holds:
    a failure, not "Kafka started"."""
    port, controller = _ports(2)
    workdir = tmp_path / "kafka"
    make = ["make", "-C", str(ROOT), "--no-print-directory", "kafka", "KAFKA_DEPS="]
    make += [f"KAFKA_DIR={workdir}", f"KAFKA_LIB_DIR={LIB_DIR}", f"PY={sys.executable}"]
    make += [f"KAFKA_PORT={port}", f"KAFKA_CONTROLLER_PORT={controller}"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = subprocess.run(make, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode != 0
    assert "Kafka started" not in result.stdout
    assert f"port 127.0.0.1:{port} is already in use" in result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_picks_its_broker_policy_from_kafka_port() -> None:
    """`make -n demo`: the default port may be reused or moved; a KAFKA_PORT given is kept
    (reused if Kafka answers there); the demo reads where the broker is from the address file."""
    base = ["make", "-C", str(ROOT), "--no-print-directory", "-n", "demo", "KAFKA_DEPS="]
    default = subprocess.run(base, capture_output=True, text=True, check=True).stdout
    assert "--if-taken reuse-or-free" in default
    assert "KAFKA_BOOTSTRAP_SERVERS=$(cat .kafka/bootstrap)" in default
    given = subprocess.run([*base, "KAFKA_PORT=19092"], capture_output=True, text=True, check=True)
    assert "--port 19092" in given.stdout and "--if-taken reuse\n" in given.stdout
