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

from detector.testing.kafka_io import consume_records, produce_records
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


def read_alerts(bootstrap: str, topic: str, count: int) -> list[dict[str, object]]:
    return [orjson.loads(m.value() or b"null") for m in consume_records(bootstrap, topic, count)]


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
        produce_records(bootstrap, config["topics"]["events"], [(None, r) for r in records])
        print(f"produced {len(records)} events to {config['topics']['events']} on {bootstrap}")
        return 0
    suffix = time.strftime("%Y%m%d-%H%M%S")
    for name in ("events", "alerts", "dead_letter"):
        config["topics"][name] = f"demo.{config['topics'][name]}.{suffix}"
    config["kafka"]["group.id"] = f"drift-detector-demo-{suffix}"
    topics = config["topics"]

    print(f"demo: producing {len(records)} events to {topics['events']} on {bootstrap}")
    print(f"demo: injected drift: amount +1 sd for country=DE from event {args.drift_at}")
    produce_records(bootstrap, topics["events"], [(None, r) for r in records])

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle)
    print("demo: running drift-detector run --until-end")
    started = time.monotonic()
    done = subprocess.run(
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
        stderr=subprocess.PIPE,
        text=True,
    )
    sys.stderr.write(done.stderr)
    summary = orjson.loads(done.stderr.split("run summary: ")[-1])
    print(f"demo: detector finished in {time.monotonic() - started:.1f}s")

    alerts = read_alerts(bootstrap, topics["alerts"], summary["alerts"])
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
