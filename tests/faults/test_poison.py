"""Poison records and hostile state: the worker keeps running, every input record is either
processed or dead-lettered, and every other record's alerts are ``replay``'s."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from detector.config import parse_config
from detector.engine import Engine
from detector.kafka.internal import unit_key_of
from detector.state.codec import decode_state, encode_state
from detector.testing.faults import (
    create_topics,
    drift_events,
    moments,
    replay_alerts,
    scenario_config,
)
from detector.testing.kafka_io import consume_records, produce_records
from detector.testing.workers import WorkerProcess, committed_alerts

pytestmark = pytest.mark.kafka

N_EVENTS = 24_000
HUGE = 1_048_400  # a value the events topic still takes (1 MiB + 12 bytes a record batch)


def _summary(worker: WorkerProcess) -> dict[str, Any]:
    """The worker's end-of-run summary line."""
    line = next(x for x in worker.log.read_text().splitlines() if x.startswith("run summary: "))
    summary: dict[str, Any] = orjson.loads(line.removeprefix("run summary: "))
    return summary


def _poison(clean: dict[str, Any]) -> list[tuple[bytes, str]]:
    """Records no worker may stop on, with the dead-letter reason each gets."""
    times = [1e300, 1e18, "9999-12-31T23:59:59-01:00", -5]
    out = [(orjson.dumps({**clean, "ts": t}), "bad_time") for t in times]
    out.append((orjson.dumps({**clean, "pad": "x" * HUGE})[:HUGE], "too_large"))
    out += [(b"\xff{", "not_json"), (b"[1]", "not_object")]
    return out


def test_poison_records_are_dead_letters_and_the_rest_alerts_as_replay(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Event times that cannot be formatted, a record just under 1 MiB whose dead-letter copy
    is over the topic's limit, and garbage, among a drift backlog: the worker ends with exit 0,
    records = processed + dead-lettered, the dead letters carry their reasons (the big one cut
    to fit, with its original size and hash), and the alerts are replay's of the rest."""
    events = drift_events(N_EVENTS)
    clean = [orjson.dumps(e) for e in events]
    poison = _poison(events[0])
    at = {1500 + 3000 * k: value for k, (value, _) in enumerate(poison)}
    records: list[tuple[bytes | None, bytes | None]] = []
    for i, line in enumerate(clean):
        if i in at:
            records.append((b"poison", at[i]))
        records.append((None, line))
    topics = create_topics(kafka_bootstrap, {"events": 1, "alerts": 1, "dead_letter": 1})
    # Idempotent: a plain producer retrying a batch on a loaded broker reorders the topic, and
    # replay of the records as produced would no longer be the reference.
    producer = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "message.max.bytes": 2_000_000,
            "enable.idempotence": True,
        }
    )
    for key, value in records:
        producer.produce(topics["events"], key=key, value=value)
        producer.poll(0)
    assert producer.flush(60.0) == 0
    cfg = scenario_config(kafka_bootstrap, topics)

    worker = WorkerProcess(cfg, tmp_path, until_end=True)
    assert worker.wait(240.0) == 0, worker.output()

    summary = _summary(worker)
    reasons: dict[str, int] = {}
    for _, reason in poison:
        reasons[reason] = reasons.get(reason, 0) + 1
    assert summary["records"] == len(records)
    assert summary["dead_letters"] == reasons
    assert summary["records"] - sum(summary["dead_letters"].values()) == len(clean)
    letters = consume_records(kafka_bootstrap, topics["dead_letter"], len(poison))
    assert sorted(
        dict(m.headers() or [])["drift.errors.class"].decode() for m in letters
    ) == sorted(r for _, r in poison)
    big = next(m for m in letters if "drift.errors.truncated" in dict(m.headers() or []))
    headers = dict(big.headers() or [])
    huge = next(p for p, r in poison if r == "too_large")
    assert headers["drift.errors.original.size"] == str(len(huge)).encode()
    assert headers["drift.errors.original.sha256"] == hashlib.sha256(huge).hexdigest().encode()
    reference = replay_alerts(cfg, clean)
    alerts = committed_alerts(kafka_bootstrap, topics["alerts"], len(reference))
    assert moments(alerts) == moments(reference)


def _forge(bootstrap: str, cfg: dict[str, Any], changelog: str) -> list[tuple[str, Any]]:
    """Rewrite the changelog's unit snapshots into hostile ones: twelve with a counter that
    became text, one claiming offsets far past its partition's end. Returns their (feature,
    segment) as alerts name them."""
    engine = Engine(parse_config(cfg))
    shared = engine.units.shared_state()
    latest: dict[bytes, tuple[int, bytes]] = {}
    for message in consume_records(bootstrap, changelog, 10**6, deadline=8.0):
        latest[message.key() or b""] = (message.partition() or 0, message.value() or b"")
    forged: list[tuple[bytes, int, bytes]] = []
    names: list[tuple[str, Any]] = []
    for key_bytes, (partition, value) in sorted(latest.items()):
        key = unit_key_of(key_bytes)
        if key[0].startswith("#") or len(forged) == 13:
            continue
        snapshot = decode_state(value, shared)
        if len(forged) < 12:
            snapshot["unit"]._warm_events = "a counter no more"
        else:
            snapshot["applied"] = {s: 2**62 for s in snapshot["applied"]}
        forged.append((key_bytes, partition, encode_state(snapshot, shared)))
        names.append((key[0], {} if key[1] is None else {key[1]: key[2]}))
    assert len(forged) == 13
    for key_bytes, partition, value in forged:
        produce_records(bootstrap, changelog, [(key_bytes, value)], partition=partition)
    return names


def test_hostile_snapshots_are_discarded_and_the_worker_goes_on(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Half a backlog, then twelve snapshots forged with a wrong field type, one claiming
    offset 2**62, and a repartition record that is not one: the next run discards those units
    (they warm up again), dead-letters the record, ends with exit 0, and every other series
    fires exactly as in replay."""
    lines = [orjson.dumps(e) for e in drift_events(N_EVENTS)]
    third = N_EVENTS // 3
    topics = create_topics(kafka_bootstrap, {"events": 1, "alerts": 1, "dead_letter": 1})
    cfg = scenario_config(kafka_bootstrap, topics)
    group = cfg["kafka"]["group.id"]
    produce_records(kafka_bootstrap, topics["events"], [(None, x) for x in lines[:third]])
    first = WorkerProcess(cfg, tmp_path, until_end=True)
    assert first.wait(240.0) == 0, first.output()
    forged = _forge(kafka_bootstrap, cfg, f"{group}-changelog")
    produce_records(kafka_bootstrap, f"{group}-repartition", [(None, b"KDDS\x02{not a slice")])
    produce_records(kafka_bootstrap, topics["events"], [(None, x) for x in lines[third:]])

    second = WorkerProcess(cfg, tmp_path, until_end=True)
    assert second.wait(240.0) == 0, second.output()

    summary = _summary(second)
    assert summary["state"]["discarded_units"] == 13
    assert summary["dead_letters"] == {"bad_chunk": 1}
    assert "offset 4611686018427387904" in second.output()
    reference = replay_alerts(cfg, lines)
    alerts = committed_alerts(kafka_bootstrap, topics["alerts"], len(reference))

    def others(found: list[dict[str, Any]]) -> Any:
        return moments(
            [a for a in found if (a["data"]["feature"], a["data"]["segment"]) not in forged]
        )

    assert others(alerts) == others(reference)
    assert others(reference), "some alerts come from units nobody forged"
