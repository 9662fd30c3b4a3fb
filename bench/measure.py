"""The throughput measurements: raw consume (L), the detector (D), the naive loop (N), replay.

Kafka rates are timed from partition assignment to the end of the topic, so group-join delays
(``group.initial.rebalance.delay.ms`` is 3 s on a stock broker) and interpreter start-up are not
counted against either side.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import Consumer, TopicPartition
from river.drift import ADWIN, PageHinkley

import detector.replay
from detector.config import Config
from detector.engine import Engine
from detector.kafka.worker import FETCH_DEFAULTS
from detector.state.codec import encode_state

from .workload import CATEGORICAL, NUMERIC

CLI = [sys.executable, "-m", "detector.cli", "--log-format", "json"]


@dataclass
class Rate:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def end_offsets(bootstrap: str, topic: str, deadline: float = 30.0) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    try:
        meta = consumer.list_topics(topic, timeout=deadline).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=deadline)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def raw_consume(bootstrap: str, topic: str, deadline: float, tuned: bool = True) -> Rate:
    """L: the least any Python consumer must do, consume batches and orjson.loads each record.

    ``tuned``: with the worker's fetch defaults (FETCH_DEFAULTS), as D fetches; without them,
    librdkafka's defaults stall each time its queue refills (see bench/README.md).
    """
    ends = end_offsets(bootstrap, topic)
    expected = sum(ends.values())
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **(FETCH_DEFAULTS if tuned else {}),
        }
    )
    assigned: list[float] = []
    consumer.subscribe([topic], on_assign=lambda c, p: assigned.append(time.perf_counter()))
    loads, count = orjson.loads, 0
    until = time.monotonic() + deadline
    try:
        while count < expected:
            if time.monotonic() > until:
                raise TimeoutError(f"raw consumer read {count:,} of {expected:,} records")
            for message in consumer.consume(num_messages=2000, timeout=0.2):
                if message.error() is None:
                    loads(message.value())
                    count += 1
        finished = time.perf_counter()
    finally:
        consumer.close()
    return Rate(count, finished - assigned[0])


@dataclass
class DetectorRun:
    rate: Rate
    wall_seconds: float  # process start to exit: start-up and group join included
    peak_rss_mib: float
    summary: dict[str, Any]
    rss_timeline: list[tuple[float, float]]  # (seconds since start, MiB) every 2 s


def write_config(config: dict[str, Any], directory: Path) -> Path:
    path = directory / f"config-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a detector process (anything else, e.g. librdkafka, is skipped)."""
    lines = []
    for raw in path.read_bytes().splitlines():
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def log_time(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["time"]).timestamp()


def _rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # no /proc (not Linux) or the process just exited
        pass
    return None


def wait_child(
    proc: subprocess.Popen[bytes], deadline: float, rss: list[tuple[float, float]] | None = None
) -> Any:
    """Reap ``proc`` with wait4 (its own rusage, not every child's); SIGKILL at the deadline.

    ``rss`` collects (seconds, MiB) every 2 s: how memory grows, where ru_maxrss only gives
    the peak.
    """
    started = time.monotonic()
    until, sample_at = started + deadline, started
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage
        now = time.monotonic()
        if rss is not None and now >= sample_at and (mib := _rss_mib(proc.pid)) is not None:
            rss.append((round(now - started, 1), round(mib, 1)))
            sample_at = now + 2
        if now > until:
            proc.send_signal(signal.SIGKILL)
            until = now + 10  # SIGKILL cannot be ignored: reaped on the next turns
        time.sleep(0.05)


def detector_until_end(config: dict[str, Any], workdir: Path, deadline: float) -> DetectorRun:
    """D: ``drift-detector run --until-end`` in a subprocess, as users run it."""
    path = write_config(config, workdir)
    with tempfile.TemporaryFile(dir=workdir) as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            [*CLI, "run", "--config", str(path), "--until-end"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        timeline: list[tuple[float, float]] = []
        usage = wait_child(proc, deadline, timeline)
        wall = time.monotonic() - started
        err.seek(0)
        stderr_path = workdir / f"detector-{proc.pid}.log"
        stderr_path.write_bytes(err.read())
    if proc.returncode != 0:
        raise RuntimeError(f"detector exited {proc.returncode}, log: {stderr_path}")
    lines = log_lines(stderr_path)
    assigned = next(x for x in lines if x["message"].startswith("assigned partitions"))
    done = next(x for x in lines if x["message"] == "run summary")
    summary: dict[str, Any] = done["summary"]
    seconds = log_time(done) - log_time(assigned)
    # Linux reports ru_maxrss in KiB.
    peak = usage.ru_maxrss / 1024
    return DetectorRun(Rate(summary["records"], seconds), wall, peak, summary, timeline)


def naive_loop(lines: Iterable[bytes], categorical: bool = True) -> Rate:
    """N: what users write by hand, one value at a time into river's detectors.

    Per event and monitored field, three series: all traffic, the country and the channel value.
    Numeric fields (20 features + the prediction) feed ADWIN and Page-Hinkley. Categorical fields
    feed one ADWIN per category on its 0/1 indicator (``categorical=False`` skips them).
    """
    numeric = [*NUMERIC]
    categories = {name: list(shares) for name, shares in CATEGORICAL.items()}
    num_state: dict[tuple[str, str], tuple[Any, Any]] = {}
    cat_state: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    detections = count = 0
    loads = orjson.loads
    started = time.perf_counter()
    for line in lines:
        event = loads(line)
        features, segment = event["features"], event["segment"]
        keys = ("all", "country=" + segment["country"], "channel=" + segment["channel"])
        values = [(name, features.get(name)) for name in numeric]
        values.append(("prediction", event["prediction"]["score"]))
        for name, value in values:
            if value is None:
                continue
            for key in keys:
                state = num_state.get((name, key))
                if state is None:
                    state = num_state[(name, key)] = (ADWIN(), PageHinkley())
                for det in state:
                    det.update(value)
                    if det.drift_detected:
                        detections += 1
        if categorical:
            for name, cats in categories.items():
                value = features.get(name)
                if value is None:
                    continue
                for key in keys:
                    dets = cat_state.get((name, key))
                    if dets is None:
                        dets = cat_state[(name, key)] = [(c, ADWIN()) for c in cats]
                    for cat, det in dets:
                        det.update(1.0 if value == cat else 0.0)
                        if det.drift_detected:
                            detections += 1
        count += 1
    return Rate(count, time.perf_counter() - started)


def replay_file(
    config: Config, lines: Iterable[bytes], labels: Iterable[bytes] | None = None
) -> tuple[Rate, Engine]:
    """Replay throughput (events per second; ``labels`` replay --labels), and the engine for the
    state estimate (no second replay needed)."""
    noop: Callable[[Any], None] = lambda alert: None  # noqa: E731
    started = time.perf_counter()
    report = detector.replay.replay(config, lines, noop, labels=labels)
    seconds = time.perf_counter() - started
    assert report.engine is not None
    return Rate(report.records, seconds), report.engine


def state_sizes(engine: Engine) -> tuple[int, float, int]:
    """(series, mean, max) bytes per series as the changelog stores them (the state codec)."""
    shared = engine.units.shared_state()
    sizes = [len(encode_state(series, shared)) for series in engine.series.values()]
    return len(sizes), sum(sizes) / max(len(sizes), 1), max(sizes, default=0)
