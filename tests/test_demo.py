"""`make demo` as a user runs it, with its port taken: it says where its broker is, and the
injected drift is paged."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from detector.testing.kafka_broker import LocalKafkaBroker

ROOT = Path(__file__).resolve().parents[1]
LIB_DIR = ROOT / ".kafka" / "lib"  # the jars the broker fixture fetches (shared cache)

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
]


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_make_demo_on_a_taken_port_moves_its_broker_and_pages_the_drift(tmp_path: Path) -> None:
    """The demo's port held by something that is not Kafka (as 9092 often is): `make demo`
    (its recipe, make's default policy for the default port) starts its broker on free ports,
    prints that address, runs the detector on it and prints the amount / country=DE drift."""
    port, controller = _free_ports(2)
    workdir = tmp_path / "kafka"
    make = ["make", "-C", str(ROOT), "--no-print-directory", "demo", "KAFKA_DEPS="]
    make += [f"KAFKA_DIR={workdir}", f"KAFKA_LIB_DIR={LIB_DIR}", f"PY={sys.executable}"]
    make += [f"KAFKA_PORT={port}", f"KAFKA_CONTROLLER_PORT={controller}"]
    make += ["DEMO_IF_TAKEN=reuse-or-free", "DEMO_ARGS=--events 20000 --drift-at 10000"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        try:
            done = subprocess.run(make, capture_output=True, text=True, timeout=600, check=False)
        finally:
            written = workdir / "bootstrap"
            address = written.read_text().strip() if written.exists() else "none"
            if written.exists():
                broker_port = int(address.rsplit(":", 1)[1])
                LocalKafkaBroker(workdir, broker_port, controller, LIB_DIR).stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert address != f"127.0.0.1:{port}"
    out = done.stdout
    assert f"port 127.0.0.1:{port} is taken by something that is not Kafka" in out
    assert f"Kafka started on {address}" in out
    assert "demo: producing 20000 events to" in out and f" on {address}" in out
    firing = [line for line in out.splitlines() if line.strip().startswith("firing")]
    assert any("amount" in line and "country=DE" in line for line in firing), out
