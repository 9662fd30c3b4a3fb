"""``make bench``: throughput, memory and alert latency of the detector on a realistic workload.

Uses $KAFKA_BOOTSTRAP_SERVERS when set, otherwise starts a local single-node KRaft broker on free
ports in a temporary directory (jars cached in <repo>/.kafka/lib) and stops it at the end.
Results are printed as a table and written to <cache-dir>/results.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script (`python bench/run.py`): make `bench` importable
    sys.path.insert(0, str(REPO))

from bench import measure  # noqa: E402
from bench.latency import measure_latency  # noqa: E402
from bench.workload import (  # noqa: E402
    create_topics,
    delete_topics,
    detector_config,
    events_file,
    labelled_config,
    labels_file,
    produce_lines,
    read_lines,
)
from detector.cli import tune_gc  # noqa: E402
from detector.config import parse_config  # noqa: E402
from detector.testing.kafka_broker import LocalKafkaBroker, free_port  # noqa: E402

TARGETS = {"D/L": 0.5, "D/N": 8.0, "state_kib": 64.0, "latency_p99_s": 1.0}


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="workload size")
    parser.add_argument("--naive-events", type=int, default=50_000, help="events for N")
    parser.add_argument("--partitions", type=int, default=1, help="partitions of the topic")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".bench")
    parser.add_argument(
        "--rounds", type=int, default=3, help="L and D are measured this many times, alternately"
    )
    parser.add_argument("--latency-drifts", type=int, default=30, help="drifts injected")
    parser.add_argument(
        "--latency-seconds", type=float, default=60, help="longest paced produce of the latency run"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    return args


@contextlib.contextmanager
def kafka() -> Iterator[tuple[str, bool]]:
    """(bootstrap servers, whether the broker is shared): the env's broker or our own."""
    from_env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if from_env:
        yield from_env, True
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
    broker = LocalKafkaBroker(workdir, free_port(), free_port(), REPO / ".kafka" / "lib")
    try:
        print(f"starting a local Kafka broker in {workdir}", flush=True)
        broker.start(timeout=120)
        yield broker.bootstrap_servers, False
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


LOAD: dict[str, float] = {}  # 1-minute load average at each step: the machine may be shared


def _step(phase: str, text: str) -> None:
    LOAD[phase] = round(os.getloadavg()[0], 2)
    print(f"[{time.strftime('%H:%M:%S')}] {phase}: {text}", flush=True)


def run(
    args: argparse.Namespace, bootstrap: str, workdir: Path
) -> tuple[dict[str, Any], list[str]]:
    """Every measurement in turn; returns the results and the topics it created."""
    results: dict[str, Any] = {"events": args.events, "partitions": args.partitions}
    results["cpu_count"] = os.cpu_count()
    _step("workload", f"{args.events:,} events (seed {args.seed}), cache {args.cache_dir}")
    path = events_file(args.cache_dir, args.events, args.seed)
    results["avg_event_bytes"] = round(path.stat().st_size / args.events - 1, 1)  # minus "\n"

    topic = f"bench.events.{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, [topic], args.partitions)
    _step("produce", f"{topic} ({args.partitions} partition(s)) on {bootstrap}")
    started = time.perf_counter()
    produced = produce_lines(bootstrap, topic, read_lines(path), deadline=120)
    results["produce_events_per_s"] = round(produced / (time.perf_counter() - started))

    # L and D alternate, round after round: on a shared VM either can vary by a third from one
    # minute to the next, and a ratio of neighbouring measurements cancels most of that.
    topics = {"events": topic, "alerts": f"{topic}.alerts", "dead_letter": f"{topic}.dlq"}
    rounds: list[tuple[float, measure.DetectorRun]] = []
    for number in range(1, args.rounds + 1):
        _step("L", f"round {number}/{args.rounds}: raw consume + orjson.loads")
        raw = measure.raw_consume(bootstrap, topic, deadline=300)
        _step("D", f"round {number}/{args.rounds}: drift-detector run --until-end (subprocess)")
        group = f"bench-detector-{uuid.uuid4().hex[:8]}"
        run_d = measure.detector_until_end(
            detector_config(bootstrap, group, topics), workdir, deadline=600
        )
        if run_d.summary["records"] != produced:
            raise RuntimeError(f"detector read {run_d.summary['records']} of {produced} records")
        rounds.append((raw.per_second, run_d))
    l_rates = [raw for raw, _ in rounds]
    d_rates = [run.rate.per_second for _, run in rounds]
    results["L_rounds_events_per_s"] = [round(x) for x in l_rates]
    results["D_rounds_events_per_s"] = [round(x) for x in d_rates]
    results["D/L_rounds"] = [round(d / raw, 3) for raw, d in zip(l_rates, d_rates, strict=True)]
    results["L_events_per_s"] = round(statistics.median(l_rates))
    results["D_events_per_s"] = round(statistics.median(d_rates))
    _step("L", "librdkafka's fetch defaults, once")
    untuned = measure.raw_consume(bootstrap, topic, deadline=300, tuned=False)
    results["L_librdkafka_defaults_events_per_s"] = round(untuned.per_second)
    results["D_wall_seconds"] = round(run_d.wall_seconds, 1)
    results["D_alerts"] = sum(run.summary["alerts"] for _, run in rounds)
    results["D_peak_rss_mib"] = round(max(run.peak_rss_mib for _, run in rounds), 1)
    results["D_rss_timeline_mib"] = run_d.rss_timeline

    _step("recovery", "the same group again: restore every series from the changelog")
    again = measure.detector_until_end(
        detector_config(bootstrap, group, topics), workdir, deadline=600
    )
    results["recovery_units"] = again.summary["state"]["restored_units"]
    results["recovery_restore_seconds"] = again.summary["state"]["restore_seconds"]
    results["recovery_wall_seconds"] = round(again.wall_seconds, 1)

    naive_n = min(args.naive_events, args.events)
    _step("N", f"naive river loop on the first {naive_n:,} events")
    naive = measure.naive_loop(read_lines(path, naive_n))
    results["N_events_per_s"] = round(naive.per_second)
    numeric_only = measure.naive_loop(read_lines(path, naive_n), categorical=False)
    results["N_numeric_only_events_per_s"] = round(numeric_only.per_second)
    results["naive_events"] = naive_n

    _step("replay", "from the JSONL file (collector tuned as the CLI does), then state per series")
    tune_gc()
    config = parse_config(detector_config(bootstrap, "unused", topics))
    replayed, engine = measure.replay_file(config, read_lines(path))
    results["replay_events_per_s"] = round(replayed.per_second)
    series, mean, largest = measure.state_sizes(engine)
    del engine
    results.update(series=series, state_bytes_mean=round(mean), state_bytes_max=largest)

    _step("replay --labels", "the same events with their labels, against the same without")
    labels = labels_file(args.cache_dir, path, args.seed)
    labelled = parse_config(labelled_config(detector_config(bootstrap, "unused", topics)))
    alone, _ = measure.replay_file(labelled, read_lines(path))
    joined, _ = measure.replay_file(labelled, read_lines(path), read_lines(labels))
    results["replay_labelled_events_per_s"] = round(alone.per_second)
    results["replay_labels_events_per_s"] = round(joined.per_second)
    results["replay_labels_slowdown"] = round(alone.per_second / joined.per_second, 2)

    _step("replay joint", "the same events with detection.joint on (21 numeric fields)")
    joint_config = detector_config(bootstrap, "unused", topics)
    joint_config["detection"] = {"joint": {"enabled": True}}
    jointed, engine = measure.replay_file(parse_config(joint_config), read_lines(path))
    results["replay_joint_events_per_s"] = round(jointed.per_second)
    results["joint_units"] = len(engine.joint)
    results["joint_us_per_event"] = round(
        1e6 / jointed.per_second - 1e6 / results["replay_events_per_s"], 2
    )
    results["joint_alerts"] = sum(u.lifecycle.detections for u in engine.joint.values())
    del engine

    rate = results["D_events_per_s"] / 2
    _step("latency", f"{args.latency_drifts} drifts produced at D/2 = {rate:,.0f} events/s")
    latency = measure_latency(
        bootstrap, workdir, rate, args.latency_drifts, args.latency_seconds, args.seed + 1
    )
    results.update(
        latency_target_rate=round(latency.target_rate),
        latency_achieved_rate=round(latency.achieved_rate),
        latency_events=latency.events,
        latency_samples=len(latency.samples),
        latency_alert_statuses=latency.statuses,
        latency_timestamp_type=latency.timestamp_type,
        latency_p50_s=_round(latency.percentile(50), 3),
        latency_p99_s=_round(latency.percentile(99), 3),
        latency_max_s=_round(max(latency.samples, default=None), 3),
        latency_firing_p50_s=_round(latency.percentile(50, "firing"), 3),
        latency_firing_p99_s=_round(latency.percentile(99, "firing"), 3),
    )
    results["load_average_1m"] = LOAD
    _ratios(results)
    return results, [topic, topics["alerts"], topics["dead_letter"], *latency.topics]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _ratios(r: dict[str, Any]) -> None:
    r["D/L"] = round(statistics.median(r["D/L_rounds"]), 3)
    untuned = r["L_librdkafka_defaults_events_per_s"]
    r["D/L_librdkafka_defaults"] = round(r["D_events_per_s"] / untuned, 3)
    r["D/N"] = round(r["D_events_per_s"] / r["N_events_per_s"], 3)
    r["state_kib_mean"] = round(r["state_bytes_mean"] / 1024, 1)
    r["state_kib_max"] = round(r["state_bytes_max"] / 1024, 1)
    p99 = r["latency_p99_s"]
    r["targets_met"] = {
        "D >= 0.5 L": r["D/L"] >= TARGETS["D/L"],
        "D >= 8 N": r["D/N"] >= TARGETS["D/N"],
        "state <= 64 KiB/series (max)": r["state_kib_max"] <= TARGETS["state_kib"],
        "p99 latency < 1 s": p99 is not None and p99 < TARGETS["latency_p99_s"],
    }


def table(r: dict[str, Any]) -> str:
    met = r["targets_met"]

    def mark(key: str, target: str) -> str:
        return f"target {target}: {'met' if met[key] else 'NOT met'}"

    rate = "{:>10,} ev/s"
    rows = [
        (
            "L  raw consume + orjson.loads",
            rate.format(r["L_events_per_s"]),
            f"worker's fetch; median of {_rates(r['L_rounds_events_per_s'])}",
        ),
        (
            "   L, librdkafka's fetch defaults",
            rate.format(r["L_librdkafka_defaults_events_per_s"]),
            "",
        ),
        (
            "D  drift-detector run --until-end",
            rate.format(r["D_events_per_s"]),
            f"median of {_rates(r['D_rounds_events_per_s'])}",
        ),
        ("N  naive river loop", rate.format(r["N_events_per_s"]), "categoricals one-hot"),
        ("   naive, numeric fields only", rate.format(r["N_numeric_only_events_per_s"]), ""),
        ("   replay (JSONL file)", rate.format(r["replay_events_per_s"]), ""),
        (
            "   replay --labels (labelled config)",
            rate.format(r["replay_labels_events_per_s"]),
            f"{r['replay_labels_slowdown']:.2f}x the time of replay without labels "
            f"({r['replay_labelled_events_per_s']:,} ev/s)",
        ),
        (
            "   replay, detection.joint on",
            rate.format(r["replay_joint_events_per_s"]),
            f"+{r['joint_us_per_event']:.1f} us/event for {r['joint_units']} joint units; "
            f"{r['joint_alerts']} joint detections (stationary: 0 expected)",
        ),
        ("D/L, median of the rounds' ratios", f"{r['D/L']:>10.3f}", mark("D >= 0.5 L", ">= 0.5")),
        ("   D/L of each round", f"{'':>10}", ", ".join(f"{x:.3f}" for x in r["D/L_rounds"])),
        ("   D/L, L with librdkafka's defaults", f"{r['D/L_librdkafka_defaults']:>10.3f}", ""),
        ("D/N", f"{r['D/N']:>10.3f}", mark("D >= 8 N", ">= 8")),
        ("peak RSS of D", f"{r['D_peak_rss_mib']:>10,.1f} MiB", ""),
        ("state/series, mean (changelog)", f"{r['state_kib_mean']:>10,.1f} KiB", ""),
        (
            "state/series, max (changelog)",
            f"{r['state_kib_max']:>10,.1f} KiB",
            f"{r['series']} series; " + mark("state <= 64 KiB/series (max)", "<= 64 KiB"),
        ),
        (
            "event-to-alert latency p50",
            f"{_secs(r['latency_p50_s'])}",
            f"{r['latency_samples']} alerts at {r['latency_achieved_rate']:,} ev/s (D/2)",
        ),
        (
            "event-to-alert latency p99",
            _secs(r["latency_p99_s"]),
            mark("p99 latency < 1 s", "< 1 s"),
        ),
        (
            "recovery: restore from changelog",
            _secs(r["recovery_restore_seconds"]),
            f"{r['recovery_units']} units; restart to exit {r['recovery_wall_seconds']} s",
        ),
        ("cpu_count", f"{r['cpu_count']:>10}", ""),
        ("events", f"{r['events']:>10,}", f"{r['partitions']} partition(s)"),
        ("average event size", f"{r['avg_event_bytes']:>10,.0f} B", ""),
    ]
    return "\n".join(f"  {name:<38} {value:<16} {note}".rstrip() for name, value, note in rows)


def _rates(rates: list[int]) -> str:
    return ", ".join(f"{x / 1000:,.0f}k" for x in rates)


def _secs(value: float | None) -> str:
    return f"{'n/a':>10}" if value is None else f"{value:>10.3f} s"


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.events < 20_000:
        print("--events must be at least 20000 (segment references need the warm-up)")
        return 2
    started = time.monotonic()
    workdir = args.cache_dir / "work"  # configs and detector logs of the last run, for a look
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    with kafka() as (bootstrap, shared):
        results, topics = run(args, bootstrap, workdir)
        if shared:
            delete_topics(bootstrap, topics)
    results["runtime_seconds"] = round(time.monotonic() - started, 1)
    print(f"\nresults ({results['runtime_seconds']:.0f} s):")
    print(table(results))
    out = args.cache_dir / "results.json"
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
