"""Metric names, labels and values: the worker's counters and the engine's series at scrape time."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from detector.engine import Engine
from detector.events import Decoder
from detector.observability.collectors import EngineCollector, build_registry, segment_of
from detector.observability.metrics import WorkerMetrics
from detector.observability.series_stats import firing_alerts, series_statistics

NAME = re.compile(r"^(drift|process)_[a-z0-9_]+$")


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _families(registry: Any) -> dict[str, Any]:
    text = generate_latest(registry).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def _samples(families: dict[str, Any], name: str) -> list[Any]:
    return [s for f in families.values() for s in f.samples if s.name == name]


def _worker_metrics(workload: Any, clock: Clock | None = None) -> WorkerMetrics:
    config = workload.config(kafka={"max.poll.interval.ms": 10_000})
    if clock is None:
        return WorkerMetrics(config)
    return WorkerMetrics(config, clock=clock, wall=lambda: 1_767_225_600.0)


def test_every_name_follows_the_conventions(workload: Any, drifted_engine: Engine) -> None:
    """One prefix, counters end in _total, timestamps in _timestamp_seconds, labels bounded."""
    metrics = _worker_metrics(workload)
    metrics.batch(10, [TopicPartition("e", 0, 10)], [("drift", "critical", "firing")], [], 5.0, 0.1)
    families = _families(build_registry(metrics, drifted_engine, "fraud", series_cap=1000))

    assert len(families) >= 20
    for name, family in families.items():
        assert NAME.match(name), name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name
        if "timestamp" in name:
            assert name.endswith("_timestamp_seconds"), name
        if name.startswith("drift_"):
            assert all(s.labels.get("model") == "fraud" for s in family.samples), name
    values = {
        value
        for f in families.values()
        for s in f.samples
        for key, value in s.labels.items()
        if key in ("feature", "segment")
    }
    assert values and not any(v.startswith("evt-") for v in values)  # never event ids


def test_worker_counters_and_histogram(workload: Any) -> None:
    """Per-batch hooks add up; the batch histogram is cumulative and lag is per partition."""
    metrics = _worker_metrics(workload)
    metrics.batch(
        100,
        [TopicPartition("e", 0, 60), TopicPartition("e", 1, 40)],
        [("drift", "critical", "firing"), ("drift", "warning", "firing")],
        ["not_json", "not_json", "too_large"],
        1_767_225_700.5,
        0.02,
    )
    metrics.batch(
        50, [TopicPartition("e", 0, 110)], [("drift", "critical", "resolved")], [], None, 3.0
    )
    metrics.error("consume", "_TRANSPORT")
    metrics.assigned({0, 1})
    families = _families(build_registry(metrics, Engine(workload.config()), "fraud", 10))

    assert _samples(families, "drift_records_consumed_total")[0].value == 150
    dlq = {
        s.labels["reason"]: s.value for s in _samples(families, "drift_dead_letter_records_total")
    }
    assert dlq == {"not_json": 2, "too_large": 1}
    alerts = {
        (s.labels["severity"], s.labels["status"]): s.value
        for s in _samples(families, "drift_alerts_total")
    }
    assert alerts == {
        ("critical", "firing"): 1,
        ("warning", "firing"): 1,
        ("critical", "resolved"): 1,
    }
    errors = _samples(families, "drift_errors_total")
    assert [(s.labels["stage"], s.labels["type"], s.value) for s in errors] == [
        ("consume", "_TRANSPORT", 1)
    ]
    buckets = {
        s.labels["le"]: s.value for s in _samples(families, "drift_batch_duration_seconds_bucket")
    }
    assert buckets["0.025"] == 1 and buckets["2.5"] == 1 and buckets["5.0"] == 2
    assert buckets["+Inf"] == 2
    assert _samples(families, "drift_batch_duration_seconds_sum")[0].value == pytest.approx(3.02)
    assert _samples(families, "drift_last_event_timestamp_seconds")[0].value == 1_767_225_700.5
    assert _samples(families, "drift_assigned_partitions")[0].value == 2
    assert metrics.snapshot().positions == {0: 110, 1: 40}


def test_drift_statistic_separates_the_drifted_series(drifted_engine: Engine) -> None:
    """amount in country=DE shows its shift (about +1 sd); an untouched series stays near 0."""
    families = _families(build_registry(None, drifted_engine, "fraud", series_cap=1000))
    stats = {
        (s.labels["feature"], s.labels["segment"], s.labels["statistic"]): s.value
        for s in _samples(families, "drift_series_statistic")
    }

    assert stats[("amount", "country=DE", "mean_score_sd")] > 0.6
    assert abs(stats[("latency", "country=DE", "mean_score_sd")]) < 0.4
    assert abs(stats[("amount", "country=FR", "mean_score_sd")]) < 0.4
    assert ("latency", "all", "cusum_sd") in stats
    thresholds = {
        (s.labels["feature"], s.labels["segment"], s.labels["statistic"]): s.value
        for s in _samples(families, "drift_series_statistic_threshold")
    }
    ph_threshold = drifted_engine.config.detection.ph_threshold
    latency = drifted_engine.series[("latency", None, None)].drift_statistics()
    # Page-Hinkley's level: the configured one, scaled for the series' measured dependence.
    assert thresholds[("latency", "all", "cusum_sd")] == latency["cusum_sd"].threshold
    assert ph_threshold <= latency["cusum_sd"].threshold < 1.5 * ph_threshold
    # No detector compares the mean score with a level: it has no threshold to be "near".
    assert ("latency", "all", "mean_score_sd") not in thresholds
    assert {"chi_square", "psi", "js", "missing_rate"} <= {k[2] for k in stats if k[0] == "mcc"}
    assert {"psi", "ks", "wasserstein", "cusum_sd"} <= {k[2] for k in stats if k[0] == "amount"}
    firing = {
        (s.labels["feature"], s.labels["segment"])
        for s in _samples(families, "drift_series_firing")
        if s.value > 0
    }
    assert ("amount", "country=DE") in firing
    assert ("latency", "all") not in firing
    total = sum(s.value for s in _samples(families, "drift_alerts_firing"))
    assert total == len(firing) > 0


def test_series_cap_keeps_firing_series_first(drifted_engine: Engine) -> None:
    """With a cap of 3, exactly 3 series are exported (the firing ones first), the rest counted."""
    firing = {(k[0], segment_of(k)) for k, s in drifted_engine.series.items() if firing_alerts(s)}
    cap = 3
    families = _families(build_registry(None, drifted_engine, "fraud", series_cap=cap))
    exported = {
        (s.labels["feature"], s.labels["segment"])
        for s in _samples(families, "drift_series_firing")
    }

    assert len(exported) == cap
    assert len(drifted_engine.series) > cap
    left_out = _samples(families, "drift_series_not_exported")[0].value
    assert left_out == len(drifted_engine.series) - cap
    assert firing
    assert exported <= firing if len(firing) >= cap else firing <= exported
    series_count = sum(s.value for s in _samples(families, "drift_series"))
    assert series_count == len(drifted_engine.series)


def test_a_warming_series_has_no_statistic(workload: Any) -> None:
    """Before warm-up completes no statistic is exported, and every series counts as warmup."""
    config = workload.config()
    engine = Engine(config)
    decoder = Decoder(config)
    lines = workload.lines[:300]
    engine.process(decoder.decode(lines, [float(i + 1) for i in range(len(lines))]).batch)
    families = _families(build_registry(None, engine, "fraud", series_cap=1000))

    assert all(series_statistics(s) == {} for s in engine.series.values())
    assert _samples(families, "drift_series_statistic") == []
    states = {s.labels["state"]: s.value for s in _samples(families, "drift_series")}
    assert states == {"warmup": len(engine.series), "monitoring": 0}


def test_health_follows_the_poll_loop(workload: Any) -> None:
    """Alive while polls keep coming within max.poll.interval.ms, ready once assigned, not after."""
    clock = Clock()
    metrics = _worker_metrics(workload, clock)
    assert metrics.liveness_timeout == 10.0

    assert metrics.health()[0] is True  # starting up counts as alive
    assert metrics.readiness()[0] is False
    metrics.started({})
    metrics.assigned({0, 2})
    ready, detail = metrics.readiness()
    assert ready and detail["assigned_partitions"] == [0, 2]
    clock.now += 9.0
    assert metrics.health()[0] is True
    clock.now += 2.0
    alive, detail = metrics.health()
    assert not alive and detail["status"] == "stuck"
    assert metrics.readiness()[0] is False
    metrics.polled(None, [])  # a turn of the loop (no partitions: no lag to read)
    assert metrics.health()[0] and metrics.readiness()[0]
    metrics.revoked(set())
    ready, detail = metrics.readiness()
    assert not ready and detail["status"] == "no partitions assigned"
    metrics.stopped()
    alive, detail = metrics.health()
    assert not alive and detail["status"] == "stopped"


def test_not_ready_while_state_is_restored(workload: Any) -> None:
    """Assigned partitions whose changelog is still being read keep /readyz at 503."""
    metrics = _worker_metrics(workload, Clock())
    metrics.started({})
    metrics.restoring(True)
    metrics.assigned({1})
    ready, detail = metrics.readiness()
    assert not ready and detail["status"] == "restoring state"
    metrics.restoring(False)
    assert metrics.readiness()[0]


def test_scrapes_while_the_engine_grows(workload: Any) -> None:
    """Collecting while another thread adds series and updates them never raises."""
    config = workload.config()
    engine, decoder = Engine(config), Decoder(config)
    collector = EngineCollector(engine, "fraud", series_cap=5)
    errors: list[BaseException] = []

    def feed() -> None:
        try:
            for start in range(0, 8000, 250):
                values = workload.lines[start : start + 250]
                times = [float(start + i + 1) for i in range(len(values))]
                engine.process(decoder.decode(values, times).batch)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=feed)
    thread.start()
    scrapes = 0
    while thread.is_alive() or scrapes == 0:
        scrapes += 1
        families = list(collector.collect())
        assert families
    thread.join(60)
    assert not errors
    assert not thread.is_alive()
    assert scrapes >= 1


class Positions:
    """What the worker's consumer reports for lag: (position, high watermark) per partition,
    and how often it was asked."""

    def __init__(self, positions: dict[int, int], highs: dict[int, int]) -> None:
        self.positions, self.highs, self.reads = positions, highs, 0

    def __call__(self, partitions: list[int]) -> dict[int, tuple[int, int]]:
        self.reads += 1
        return {p: (self.positions[p], self.highs[p]) for p in partitions}


def test_lag_is_read_at_most_once_a_second(workload: Any) -> None:
    """Lag = high watermark - position; an unknown position (-1001) falls back to the last batch,
    and between refreshes the poll loop only reads the clock."""
    clock = Clock()
    metrics = _worker_metrics(workload, clock)
    metrics.batch(10, [TopicPartition("e", 2, 70)], [], [], None, 0.01)
    read = Positions({0: 40, 1: 100, 2: -1001}, {0: 100, 1: 100, 2: 75})

    metrics.polled(read, [0, 1, 2])
    assert metrics.snapshot().lag == {0: 60, 1: 0, 2: 5}
    read.positions[0] = 100
    clock.now += 0.5
    metrics.polled(read, [0, 1, 2])
    assert metrics.snapshot().lag[0] == 60 and read.reads == 1  # not refreshed yet
    clock.now += 0.6
    metrics.polled(read, [0, 1, 2])
    assert metrics.snapshot().lag == {0: 0, 1: 0, 2: 5}
    metrics.revoked({1})
    assert metrics.snapshot().lag == {1: 0}


class PublishingSeries:
    """A series that publishes its own statistics, in each of the accepted forms."""

    reference = object()
    lifecycles: dict[str, Any] = {}  # noqa: RUF012 - read-only stand-in

    def drift_statistics(self) -> dict[str, Any]:
        result = type("TestResult", (), {"value": 0.31, "threshold": 0.2})()
        return {"psi": result, "js": (0.04, 0.1), "ks": 0.12, "broken": float("nan")}


def test_published_statistics_are_used_as_given() -> None:
    """drift_statistics() wins over derived values; non-finite values are dropped."""
    stats = series_statistics(PublishingSeries())
    assert {k: (v.value, v.threshold) for k, v in stats.items()} == {
        "psi": (0.31, 0.2),
        "js": (0.04, 0.1),
        "ks": (0.12, None),
    }
