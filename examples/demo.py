"""The `make demo` script: a synthetic fraud stream with one injected drift, through Kafka.

1. generates seeded inference events (amount, mcc, score; country x channel segments) in which
   `amount` shifts by one standard deviation for country=DE only, from event --drift-at on;
2. produces them to the events topic of examples/fraud.yaml (or writes them with --jsonl);
3. runs `drift-detector run --until-end` on that topic;
4. reads the alerts topic back and prints each alert as one readable line.

Every run uses fresh topic names (suffix = the run's start time), so it can be repeated.
With --produce-only it just produces to the topic named in fraud.yaml (docker-compose's producer).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import yaml
from confluent_kafka import Consumer, Producer

from detector.testing.synthetic import Drift, SyntheticStream

HERE = Path(__file__).resolve().parent
STREAM = SyntheticStream(
    numeric=["amount"],
    categorical={"mcc": {"5411": 0.1, "5812": 0.4, "5999": 0.3, "4111": 0.2}},
    segments={"country": ["DE", "FR", "US"], "channel": ["web", "app", "pos"]},
    scale=20.0,
    seed=42,
)


def events(n: int, drift_at: int) -> list[bytes]:
    drift = Drift(feature="amount", start=drift_at, shift=1.0, segment=("country", "DE"))
    return [orjson.dumps(e) for e in STREAM.events(n, [drift])]


def produce(bootstrap: str, topic: str, records: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i, value in enumerate(records):
        producer.produce(topic, key=str(i).encode(), value=value)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(60):
        sys.exit("demo: events were not acknowledged by the broker")


def read_alerts(bootstrap: str, topic: str) -> list[dict[str, object]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"demo-reader-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    alerts: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            if alerts or message.offset() == 0:
                break
            continue
        alerts.append(orjson.loads(message.value()))
    consumer.close()
    return alerts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--drift-at", type=int, default=30_000)
    parser.add_argument("--jsonl", type=Path, help="only write the events to this file")
    parser.add_argument(
        "--produce-only", action="store_true", help="only produce to the config's events topic"
    )
    args = parser.parse_args()

    records = events(args.events, args.drift_at)
    if args.jsonl:
        args.jsonl.write_bytes(b"\n".join(records) + b"\n")
        print(f"wrote {len(records)} events to {args.jsonl}")
        return 0

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    config = yaml.safe_load((HERE / "fraud.yaml").read_text())
    if args.produce_only:
        produce(bootstrap, config["topics"]["events"], records)
        print(f"produced {len(records)} events to {config['topics']['events']} on {bootstrap}")
        return 0
    suffix = time.strftime("%Y%m%d-%H%M%S")
    for name in ("events", "alerts", "dead_letter"):
        config["topics"][name] = f"demo.{config['topics'][name]}.{suffix}"
    config["kafka"]["group.id"] = f"drift-detector-demo-{suffix}"
    topics = config["topics"]

    print(f"demo: producing {len(records)} events to {topics['events']} on {bootstrap}")
    print(f"demo: injected drift: amount +1 sd for country=DE from event {args.drift_at}")
    produce(bootstrap, topics["events"], records)

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle)
    print("demo: running drift-detector run --until-end")
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "detector.cli",
            "--log-level",
            "WARNING",
            "run",
            "--config",
            handle.name,
            "--until-end",
        ],
        check=True,
    )
    print(f"demo: detector finished in {time.monotonic() - started:.1f}s")

    alerts = read_alerts(bootstrap, topics["alerts"])
    print(f"\n{len(alerts)} alert(s) on topic {topics['alerts']}:")
    for alert in alerts:
        data = alert["data"]
        assert isinstance(data, dict)
        status, severity = data["status"], data["severity"]
        print(f"  {status:>8} {severity:>8}  {data['observed_at']}  {data['summary']}")
    print(f"\nread them again with:  kcat -b {bootstrap} -t {topics['alerts']} -C -e")
    print(f"dead letters (none expected) are on: {topics['dead_letter']}")
    return 0 if alerts else 1


if __name__ == "__main__":
    sys.exit(main())
