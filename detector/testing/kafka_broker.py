"""Launch a real single-node Apache Kafka broker (KRaft) from Maven Central jars, without Docker.

Why this exists: the integration tests and ``make kafka`` need a real broker (transactions,
consumer groups, read_committed), but development and CI machines may have no Docker engine, so
testcontainers cannot be used there. This module fetches the broker jars listed in
``deploy/kafka-local/pom.xml`` with Maven (cached in ``~/.m2``) and runs ``kafka.Kafka`` with Java
17 in a work directory holding its config, data, logs and pid file.

Library use::

    with LocalKafkaBroker(workdir, free_port(), free_port(), lib_dir) as broker:
        ...  # broker.bootstrap_servers == "127.0.0.1:PORT"

CLI (the broker is detached and keeps running after the command exits)::

    python -m detector.testing.kafka_broker start --dir .kafka --port 9092 --controller-port 9093
    python -m detector.testing.kafka_broker stop --dir .kafka

A start succeeds only once the broker answering on the port is the one it started: the cluster
id in its metadata is the one its storage was formatted with, and its process is alive. (A
broker that died on a port clash while another broker answers on the port is a failure, not
"started".) When a port is taken, ``--if-taken`` decides: ``fail`` (default), ``reuse`` a
Kafka broker already answering there, or ``reuse-or-free``: reuse it, or start on free ports
when the port is held by something that is not Kafka. ``--bootstrap-file`` receives the
address of the broker to use.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

HOST = "127.0.0.1"
DEFAULT_POM = Path(__file__).resolve().parents[2] / "deploy" / "kafka-local" / "pom.xml"
_KAFKA_JAR_GLOB = "kafka_2.13-*.jar"

_LOG4J2 = """\
status = warn
name = kafka-local
appender.server.type = File
appender.server.name = server
appender.server.fileName = ${sys:kafka.logs.dir}/server.log
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


class BrokerError(RuntimeError):
    """The broker (or its jars) could not be fetched, started or stopped."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_answers(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


class _Quiet:
    """A librdkafka logger that drops everything: probing a port that may not speak Kafka must
    not print a connection error per attempt."""

    def log(self, *args: Any, **kwargs: Any) -> None:
        pass


def _admin(bootstrap: str) -> AdminClient:
    quiet: dict[str, Any] = {"logger": _Quiet(), "error_cb": lambda err: None}
    return AdminClient({"bootstrap.servers": bootstrap, **quiet})


def kafka_cluster_id(port: int, timeout: float = 5.0) -> str | None:
    """The cluster id of the Kafka broker answering on 127.0.0.1:``port``; None when nothing
    listens there or what listens does not answer a Kafka metadata request."""
    if not _port_answers(port):
        return None
    try:
        meta = _admin(f"{HOST}:{port}").list_topics(timeout=timeout)
    except KafkaException:
        return None
    return str(meta.cluster_id) if meta.brokers and meta.cluster_id else None


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} not readable)"


def _find_tool(name: str) -> str:
    java_home = os.environ.get("JAVA_HOME")
    if name == "java" and java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which(name)
    if found is None:
        raise BrokerError(
            f"`{name}` not found on PATH; a local Kafka broker needs Java 17 and Maven"
        )
    return found


def fetch_jars(lib_dir: Path, pom: Path = DEFAULT_POM) -> Path:
    """Copy the broker jars into ``lib_dir`` with Maven unless a kafka_2.13 jar is already there."""
    lib_dir = Path(lib_dir)
    if any(lib_dir.glob(_KAFKA_JAR_GLOB)):
        return lib_dir
    _find_tool("java")
    mvn = _find_tool("mvn")
    if not pom.is_file():
        raise BrokerError(f"{pom} not found; it lists the Kafka jars to fetch")
    lib_dir.mkdir(parents=True, exist_ok=True)
    # Download into a sibling temp dir; the kafka jar is moved in last, so its presence means done.
    with tempfile.TemporaryDirectory(dir=lib_dir.parent, prefix=".jars-") as tmp:
        goal = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
        opts = ["-DincludeScope=runtime", f"-DoutputDirectory={tmp}"]
        cmd = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(pom), goal, *opts]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(f"mvn timed out fetching Kafka jars: {' '.join(cmd)}") from exc
        if res.returncode != 0:
            output = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout + res.stderr)  # ANSI colours
            tail = "\n".join(output.splitlines()[-30:])
            raise BrokerError(f"mvn failed (exit {res.returncode}) fetching Kafka jars:\n{tail}")
        jars = sorted(Path(tmp).glob("*.jar"), key=lambda p: p.match(_KAFKA_JAR_GLOB))
        if not any(j.match(_KAFKA_JAR_GLOB) for j in jars):
            raise BrokerError(f"mvn succeeded but no {_KAFKA_JAR_GLOB} in its output")
        for jar in jars:
            os.replace(jar, lib_dir / jar.name)
    return lib_dir


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an exited child of ours, or an orphan nobody reaps, lingers as a zombie
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _kafka_uuid() -> str:
    """A random cluster id in Kafka's format (base64url of 16 bytes, unpadded, no leading '-')."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class LocalKafkaBroker:
    """A single-node KRaft broker running from ``lib_dir`` jars with state in ``workdir``."""

    def __init__(self, workdir: Path, port: int, controller_port: int, lib_dir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self.port = port
        self.controller_port = controller_port
        self.lib_dir = Path(lib_dir).resolve()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.workdir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.workdir / "logs" / "server.log"

    @property
    def _properties(self) -> Path:
        return self.workdir / "server.properties"

    def pid(self) -> int | None:
        """The pid from the pid file if that process is alive and is this workdir's broker."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return pid  # no /proc (not Linux): trust the pid file
        return pid if str(self._properties) in cmdline else None

    def cluster_id(self) -> str | None:
        """The cluster id this workdir's storage was formatted with (None before the first
        start)."""
        try:
            text = (self.workdir / "data" / "meta.properties").read_text()
        except OSError:
            return None
        found = re.search(r"^cluster\.id=(\S+)$", text, re.MULTILINE)
        return found.group(1) if found else None

    def is_running(self) -> bool:
        """This workdir's broker process is alive and it is what answers on the port."""
        ours = self.cluster_id()
        return self.pid() is not None and ours is not None and kafka_cluster_id(self.port) == ours

    def _write_config(self) -> None:
        data = self.workdir / "data"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": "1",
            # Tests and demos write event times of fixed dates (2026-01-01...): time-based
            # retention would delete their records as soon as they are older than 7 days,
            # mid-test. This broker keeps everything.
            "log.retention.ms": "-1",
            "auto.create.topics.enable": "true",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
        }
        self._properties.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.workdir / "log4j2.properties").write_text(_LOG4J2)

    def _format_storage(self, java: str) -> None:
        if (self.workdir / "data" / "meta.properties").exists():
            return  # already formatted: keep the data across restarts
        fmt = ["format", "-t", _kafka_uuid(), "-c", str(self._properties)]
        cmd = [java, "-cp", f"{self.lib_dir}/*", "kafka.tools.StorageTool", *fmt]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if res.returncode != 0:
            tail = "\n".join((res.stdout + res.stderr).splitlines()[-30:])
            raise BrokerError(f"kafka StorageTool format failed (exit {res.returncode}):\n{tail}")

    def start(self, timeout: float = 60) -> None:
        """Start the broker in the background and wait until it answers metadata requests."""
        if self.pid() is not None:
            raise BrokerError(f"a broker from {self.workdir} is already running (pid {self.pid()})")
        for port in (self.port, self.controller_port):
            if _port_answers(port):
                raise BrokerError(f"port {HOST}:{port} is already in use ({_holder(port)})")
        java = _find_tool("java")
        fetch_jars(self.lib_dir)
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._format_storage(java)
        log4j = self.workdir / "log4j2.properties"
        jvm = ["-Xmx512m", f"-Dkafka.logs.dir={logs}", f"-Dlog4j2.configurationFile={log4j}"]
        cmd = [java, *jvm, "-cp", f"{self.lib_dir}/*", "kafka.Kafka", str(self._properties)]
        with open(logs / "kafka.out", "ab") as out:
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        try:
            self._wait_ready(self._proc, timeout)
        except BrokerError:
            self.stop(timeout=10)
            raise

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        """Wait until *this* broker answers: metadata from the port must carry the cluster id
        its storage was formatted with, and its process must still be alive."""
        deadline = time.monotonic() + timeout
        ours = self.cluster_id()
        admin: AdminClient | None = None
        while (remaining := deadline - time.monotonic()) > 0:
            if proc.poll() is not None:
                self._fail(f"Kafka exited with code {proc.returncode} during startup")
            if admin is None and _port_answers(self.port):  # avoid librdkafka refusal noise
                admin = _admin(self.bootstrap_servers)
            if admin is not None:
                try:
                    meta = admin.list_topics(timeout=min(5.0, remaining))
                except KafkaException:
                    meta = None
                if meta is not None and meta.brokers:
                    if meta.cluster_id != ours:
                        self._fail(
                            f"{self.bootstrap_servers} is answered by another Kafka cluster "
                            f"(id {meta.cluster_id}), not by the broker started from "
                            f"{self.workdir} (id {ours})"
                        )
                    if proc.poll() is None:
                        return
            time.sleep(0.2)
        self._fail(f"Kafka did not answer on {self.bootstrap_servers} within {timeout:g}s")

    def _fail(self, message: str) -> None:
        out = self.workdir / "logs" / "kafka.out"
        try:
            log = self.log_file.read_text(errors="replace")
        except OSError:
            log = ""
        clashes = re.findall(r"failed to bind to \S+: [^\n(]*", log)
        if clashes:  # the usual cause: a port taken between our check and Kafka's bind
            message += f": {clashes[-1].strip()}"
        raise BrokerError(
            f"{message}\n--- {self.log_file} (tail) ---\n{_tail(self.log_file)}"
            f"\n--- {out} (tail) ---\n{_tail(out, 20)}"
        )

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM the broker (SIGKILL after ``timeout``); return its pid, None if not running."""
        pid = self._proc.pid if self._proc is not None and self._proc.poll() is None else self.pid()
        if pid is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig)  # its own session/group: started with start_new_session
                except ProcessLookupError:
                    break
                except PermissionError:
                    os.kill(pid, sig)
                deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 10)
                while _pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if not _pid_alive(pid):
                    break
            else:
                raise BrokerError(f"Kafka (pid {pid}) survived SIGKILL")
        if self._proc is not None:
            self._proc.poll()
            self._proc = None
        self.pid_file.unlink(missing_ok=True)
        return pid

    def __enter__(self) -> LocalKafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _holder(port: int) -> str:
    """Who holds a port that answers: a Kafka broker (with its cluster id) or something else."""
    cluster = kafka_cluster_id(port)
    return f"a Kafka broker, cluster id {cluster}" if cluster else "no Kafka broker answers there"


def _configured_ports(workdir: Path) -> tuple[int, int] | None:
    """The (port, controller port) of the last start from ``workdir`` (its server.properties)."""
    try:
        text = (Path(workdir) / "server.properties").read_text()
    except OSError:
        return None
    found = re.search(r"^listeners=PLAINTEXT://[^:]+:(\d+),CONTROLLER://[^:]+:(\d+)$", text, re.M)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _announce(args: argparse.Namespace, bootstrap: str) -> int:
    if args.bootstrap_file is not None:
        args.bootstrap_file.parent.mkdir(parents=True, exist_ok=True)
        args.bootstrap_file.write_text(f"{bootstrap}\n")
    return 0


def _cli_start(args: argparse.Namespace) -> int:
    last = _configured_ports(args.dir)
    if last is not None:  # a broker from this workdir may run, on the ports it was started with
        previous = LocalKafkaBroker(args.dir, *last, args.lib_dir)
        pid = previous.pid()
        if pid is not None and previous.is_running():
            print(f"Kafka already running on {previous.bootstrap_servers} (pid {pid})")
            return _announce(args, previous.bootstrap_servers)
        if pid is not None:
            print(
                f"Kafka from {previous.workdir} runs (pid {pid}) but is not what answers on "
                f"{previous.bootstrap_servers}; run `stop` first",
                file=sys.stderr,
            )
            return 1
    broker = LocalKafkaBroker(args.dir, args.port, args.controller_port, args.lib_dir)
    if broker.pid_file.exists():
        broker.pid_file.unlink()
        print(f"Removed stale pid file {broker.pid_file}")
    port, controller = args.port, args.controller_port
    if args.if_taken != "fail" and _port_answers(port):
        cluster = kafka_cluster_id(port)
        if cluster is not None:
            print(
                f"Kafka already answers on {HOST}:{port} (cluster id {cluster}); it was not "
                f"started from {broker.workdir}: using it"
            )
            return _announce(args, f"{HOST}:{port}")
        if args.if_taken == "reuse-or-free":
            port = free_port()
            print(f"port {HOST}:{args.port} is taken by something that is not Kafka")
    if args.if_taken == "reuse-or-free" and _port_answers(controller):
        print(f"controller port {HOST}:{controller} is taken ({_holder(controller)})")
        controller = free_port()
        while controller == port:
            controller = free_port()
    broker = LocalKafkaBroker(args.dir, port, controller, args.lib_dir)
    broker.start(timeout=args.timeout)
    moved = "" if port == args.port else f", not {args.port}: that port was taken"
    print(f"Kafka started on {broker.bootstrap_servers} (pid {broker.pid()}{moved})")
    print(f"Log: {broker.log_file}")
    return _announce(args, broker.bootstrap_servers)


def _cli_stop(args: argparse.Namespace) -> int:
    broker = LocalKafkaBroker(args.dir, 0, 0, args.lib_dir)
    had_pid_file = broker.pid_file.exists()
    pid = broker.stop(timeout=args.timeout)
    if pid is not None:
        print(f"Stopped Kafka (pid {pid}) from {broker.workdir}")
    elif had_pid_file:
        print(f"Kafka was not running; removed stale pid file {broker.pid_file}")
    else:
        print(f"Kafka was not running (no pid file in {broker.workdir})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.testing.kafka_broker")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a detached broker (no-op if already running)")
    stop = sub.add_parser("stop", help="stop the broker started from --dir")
    for p, timeout in ((start, 60.0), (stop, 30.0)):
        p.add_argument("--dir", type=Path, required=True, help="work dir: config, data, logs, pid")
        p.add_argument("--lib-dir", type=Path, help="jar cache (default: DIR/lib)")
        p.add_argument("--timeout", type=float, default=timeout, help="seconds to wait")
    start.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    start.add_argument(
        "--controller-port", type=int, default=9093, help="KRaft controller port (default 9093)"
    )
    start.add_argument(
        "--if-taken",
        choices=["fail", "reuse", "reuse-or-free"],
        default="fail",
        help="when --port is taken: fail; reuse the Kafka broker answering there; or reuse it, "
        "and start on free ports when the port is held by something that is not Kafka",
    )
    start.add_argument(
        "--bootstrap-file", type=Path, help="write the address of the broker to use here"
    )
    args = parser.parse_args(argv)
    args.lib_dir = args.lib_dir or args.dir / "lib"
    try:
        return _cli_start(args) if args.command == "start" else _cli_stop(args)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
