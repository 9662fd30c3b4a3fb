"""The benchmark workload: ~800-byte inference events, cached as JSONL, produced to Kafka.

Events come from :class:`~detector.testing.synthetic.SyntheticStream` (20 numeric and 5
categorical features, country x channel segments, a prediction score), padded with the envelope
fields real inference logs carry (model version, request metadata) to reach about 800 bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

import detector.testing.synthetic
from detector.alerts import rfc3339
from detector.events import parse_time
from detector.testing.synthetic import (
    DEFAULT_SEGMENTS,
    START_TIME,
    Drift,
    SyntheticStream,
    config_dict,
)

CHUNK = 100_000  # events generated per SyntheticStream call (bounds the generator's memory)

NUMERIC = [
    "amount",
    "amount_usd",
    "acct_age_days",
    "txn_count_1h",
    "txn_count_24h",
    "avg_amount_7d",
    "dist_home_km",
    "secs_since_last",
    "device_age_days",
    "ip_risk",
    "email_age_days",
    "failed_logins",
    "merchant_risk",
    "card_age_days",
    "velocity",
    "basket_size",
    "session_secs",
    "pages_viewed",
    "chargebacks_90d",
    "refunds_30d",
]
CATEGORICAL = {
    "mcc": {"5411": 0.3, "5812": 0.25, "5999": 0.2, "4111": 0.15, "7011": 0.1},
    "device_type": {"ios": 0.45, "android": 0.4, "web": 0.15},
    "payment_method": {"card": 0.6, "wallet": 0.25, "bank": 0.1, "bnpl": 0.05},
    "currency": {"EUR": 0.5, "USD": 0.3, "GBP": 0.15, "SEK": 0.05},
    "customer_tier": {"new": 0.2, "regular": 0.6, "gold": 0.15, "platinum": 0.05},
}
SEGMENTS = {"country": DEFAULT_SEGMENTS["country"], "channel": DEFAULT_SEGMENTS["channel"]}
COUNTRIES: list[str] = list(SEGMENTS["country"])
MODEL_VERSION = "fraud-gbdt-2026.01.3"
_REGIONS = ("eu-west-1", "eu-central-1", "us-east-1")


def stream(seed: int) -> SyntheticStream:
    return SyntheticStream(
        numeric=NUMERIC, categorical=CATEGORICAL, segments=dict(SEGMENTS), seed=seed
    )


def detector_config(
    bootstrap: str, group: str, topics: dict[str, str], batch_size: int | None = None
) -> dict[str, Any]:
    """Config (as parsed YAML) monitoring all 25 features, the prediction and both segments.

    Every detector, window test and quality check is on by default. Metrics bind port 0: the
    endpoint still runs (it is part of the service) but cannot clash with anyone's 9464.
    """
    config = config_dict(stream(0), model="bench", topics=topics)
    config["prediction"] = {"path": "prediction.score", "type": "numeric"}
    config["kafka"] = {"bootstrap.servers": bootstrap, "group.id": group}
    config["metrics"] = {"port": 0}
    if batch_size is not None:
        config["run"] = {"batch_size": batch_size}
    return config


def pad(event: dict[str, Any], index: int, seed: int) -> dict[str, Any]:
    """Round numbers as services log them and add the envelope fields of a real event."""
    features = event["features"]
    for name in NUMERIC:
        value = features.get(name)
        if isinstance(value, float):
            features[name] = round(value, 2)
    event["prediction"]["score"] = round(event["prediction"]["score"], 4)
    event["event_id"] = f"{seed:08x}-4c1d-9a7e-2f0b-{index:012x}"  # UUID-shaped
    event["model_version"] = MODEL_VERSION
    event["request"] = {
        "id": f"req-{index * 2654435761 % 2**48:012x}",
        "region": _REGIONS[index % 3],
        "latency_ms": round(5.0 + (index * 7919 % 1000) / 50.0, 2),
    }
    return event


def generate(n: int, seed: int) -> Iterator[bytes]:
    """``n`` encoded events, in chunks of one SyntheticStream each; times keep increasing."""
    base = stream(seed)
    for start in range(0, n, CHUNK):
        count = min(CHUNK, n - start)
        chunk = SyntheticStream(
            numeric=base.numeric,
            categorical=base.categorical,
            segments=base.segments,
            seed=seed * 1_000_003 + start // CHUNK,
        )
        for offset, event in enumerate(chunk.events(count)):
            i = start + offset
            event["ts"] = rfc3339(START_TIME + i * base.seconds_per_event)
            yield orjson.dumps(pad(event, i, seed))


def generator_key() -> str:
    """Hash of the code that shapes the events: an edit there must not reuse a stale cache."""
    digest = hashlib.sha256()
    for module in (__file__, detector.testing.synthetic.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()[:10]


def events_file(cache_dir: Path, n: int, seed: int) -> Path:
    """The cached JSONL workload for (n, seed), generated once (written atomically)."""
    path = cache_dir / f"events-n{n}-seed{seed}-{generator_key()}.jsonl"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    for stale in cache_dir.glob(f"events-n{n}-seed{seed}-*.jsonl"):
        stale.unlink()  # the same workload from older generator code: hundreds of MB each
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    started = time.monotonic()
    try:
        with tmp.open("wb") as out:
            for line in generate(n, seed):
                out.write(line + b"\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"  generated {n:,} events in {time.monotonic() - started:.1f}s -> {path}", flush=True)
    return path


def labelled_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the labels of :func:`labels_file`: binary, the score's class at 0.5."""
    return {
        **config,
        "prediction": {"path": "prediction.score", "type": "numeric", "threshold": 0.5},
        "label": {"path": "label", "type": "binary", "ttl_seconds": 3600},
    }


def labels_file(cache_dir: Path, events: Path, seed: int) -> Path:
    """One label record per event of ``events`` (5% never sent), the label drawn with the
    score's probability, arriving 0 to 30 s after its event, in arrival order (cached)."""
    path = events.with_name("labels-" + events.name.removeprefix("events-"))
    if path.exists():
        return path
    rng = np.random.default_rng(seed + 7)
    ids, times, scores = [], [], []
    for line in read_lines(events):
        event = orjson.loads(line)
        ids.append(event["event_id"])
        times.append(parse_time(event["ts"]))
        scores.append(event["prediction"]["score"])
    n = len(ids)
    arrive = np.asarray(times) + rng.uniform(0.0, 30.0, n)
    labels = rng.random(n) < np.asarray(scores)
    sent = np.flatnonzero(rng.random(n) >= 0.05)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        with tmp.open("wb") as out:
            for i in sent[np.argsort(arrive[sent], kind="stable")].tolist():
                record = {
                    "event_id": ids[i],
                    "ts": rfc3339(float(arrive[i])),
                    "label": int(labels[i]),
                }
                out.write(orjson.dumps(record) + b"\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_lines(path: Path, limit: int | None = None) -> Iterator[bytes]:
    """Lines of ``path`` without their newline, at most ``limit`` of them."""
    with path.open("rb") as handle:
        for i, line in enumerate(handle):
            if limit is not None and i >= limit:
                return
            yield line.rstrip(b"\n")


def latency_events(n: int, seed: int, drifts: Sequence[Drift]) -> list[dict[str, Any]]:
    """Padded event objects with drifts injected; ``ts`` is set later, at produce time."""
    return [pad(e, i, seed) for i, e in enumerate(stream(seed).events(n, drifts))]


def create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions) for name in names], operation_timeout=30
    )
    for future in futures.values():
        future.result(timeout=60)


def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    """Best effort: only used on a shared broker ($KAFKA_BOOTSTRAP_SERVERS) to leave no litter."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(list(names), operation_timeout=30).values():
        with contextlib.suppress(KafkaException):
            future.result(timeout=60)


def fast_producer(bootstrap: str, linger_ms: int = 50) -> Producer:
    # Large batches and a deep local queue: loading the topic is setup, not what is measured.
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": linger_ms,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "acks": 1,
        }
    )


class DeliveryCheck:
    """Delivery callback that remembers the first failures."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None and len(self.failures) < 5:
            self.failures.append(str(err))


def produce_lines(bootstrap: str, topic: str, lines: Iterator[bytes], deadline: float) -> int:
    """Produce every line (no key: the sticky partitioner spreads over partitions)."""
    producer, check, count = fast_producer(bootstrap), DeliveryCheck(), 0
    produce, poll = producer.produce, producer.poll
    for line in lines:
        while True:
            try:
                produce(topic, line, on_delivery=check)
                break
            except BufferError:  # local queue full: let deliveries drain
                poll(0.05)
        count += 1
        if count % 10_000 == 0:
            poll(0)
    remaining = producer.flush(deadline)
    if remaining or check.failures:
        raise RuntimeError(f"{remaining} record(s) unacknowledged, failures: {check.failures}")
    return count
