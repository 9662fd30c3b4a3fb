"""``drift-detector``: the command line.

- ``run --config FILE [--until-end]``: consume the events topic, produce alerts (Kafka).
- ``replay --config FILE --input EVENTS.jsonl``: the same engine on a file; alerts on stdout.
- ``check-config --config FILE``: validate a config and print it with defaults filled in.

Exit codes: 0 success, 1 runtime failure (e.g. Kafka), 2 bad config or arguments.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import orjson

from detector.alerts import AlertEvent, alert_bytes
from detector.config import Config, load_config
from detector.errors import ConfigError, DetectorError
from detector.events import Rejection
from detector.replay import read_lines, rejection_line, replay


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drift-detector",
        description="Kafka-native drift detection for ML model inputs and outputs.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (stderr)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="consume events from Kafka and produce alerts")
    run.add_argument("--config", required=True, type=Path)
    run.add_argument(
        "--until-end",
        action="store_true",
        help="stop after reaching the end offsets seen at start (backfills, benchmarks)",
    )

    rep = sub.add_parser("replay", help="run the engine on a JSON-lines file")
    rep.add_argument("--config", required=True, type=Path)
    rep.add_argument("--input", required=True, help="events, one JSON object per line; - = stdin")
    rep.add_argument("--dead-letter", type=Path, help="write rejected records here (JSON lines)")

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("--config", required=True, type=Path)
    return parser


def _replay(config: Config, source: str, dead_letter: Path | None) -> int:
    out = sys.stdout.buffer

    def emit(alert: AlertEvent) -> None:
        out.write(alert_bytes(alert) + b"\n")

    dlq_file = dead_letter.open("wb") if dead_letter else None

    def reject(record: int, rejection: Rejection, value: bytes) -> None:
        if dlq_file is not None:
            dlq_file.write(rejection_line(record, rejection, value) + b"\n")

    try:
        if source == "-":
            report = replay(config, read_lines(sys.stdin.buffer), emit, reject)
        else:
            try:
                stream = open(source, "rb")  # noqa: SIM115 - closed below, wraps OSError
            except OSError as exc:
                raise ConfigError(f"--input: cannot read {source}: {exc.strerror}") from exc
            with stream:
                report = replay(config, read_lines(stream), emit, reject)
    finally:
        if dlq_file is not None:
            dlq_file.close()
    out.flush()
    summary = {
        "records": report.records,
        "rejected": dict(report.rejected),
        "alerts": report.alerts,
        "series": report.series,
    }
    print(f"replay summary: {orjson.dumps(summary).decode()}", file=sys.stderr)
    return 0


def _run(config: Config, until_end: bool) -> int:
    from detector.kafka.worker import Worker, summary_line  # Kafka stays out of replay's path

    worker = Worker(config, until_end=until_end)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("detector").info("signal %d: draining", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    report = worker.run()
    print(f"run summary: {orjson.dumps(summary_line(report)).decode()}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        config = load_config(args.config)
        if args.command == "check-config":
            print(orjson.dumps(config.model_dump(), option=orjson.OPT_INDENT_2).decode())
            return 0
        if args.command == "replay":
            return _replay(config, args.input, args.dead_letter)
        return _run(config, args.until_end)
    except ConfigError as exc:
        print(f"drift-detector: {exc}", file=sys.stderr)
        return 2
    except DetectorError as exc:
        print(f"drift-detector: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
