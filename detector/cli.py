"""``drift-detector``: the command line.

- ``run --config FILE [--until-end]``: consume the events topic, produce alerts (Kafka).
- ``replay --config FILE --input EVENTS.jsonl [--labels LABELS.jsonl]``: the same engine on a
  file (and its labels); alerts on stdout.
- ``check-config --config FILE``: validate a config and print it with defaults filled in.
- ``--version``: the installed package's version.

Exit codes: 0 success, 1 runtime failure (e.g. Kafka), 2 bad config or arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import gc
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
from pydantic import BaseModel

from detector import __version__
from detector.alerts import AlertEvent, alert_bytes
from detector.config import Config, load_config, redact
from detector.errors import ConfigError, DetectorError
from detector.events import Rejection
from detector.labels.summary import labels_summary
from detector.observability.logs import configure_logging, emit_error, emit_summary
from detector.observability.progress import replay_progress
from detector.replay import read_lines, rejection_line, replay
from detector.routing import cli as routing_cli

CONFIG_HELP = "the detector's YAML config file (${VAR} values come from the environment)"


def _global_flags(parser: argparse.ArgumentParser, top: bool) -> None:
    """``--log-level`` and ``--log-format``. Below the top level they default to SUPPRESS: an
    absent flag then leaves what the top level parsed, and one given after the subcommand wins."""
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        default="INFO" if top else argparse.SUPPRESS,
        help="least severe log level written to stderr (default: INFO)",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text" if top else argparse.SUPPRESS,
        help="stderr logs as text or as one JSON object per line (default: text)",
    )


def _share_global_flags(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand (and sub-subcommand, e.g. ``silence list``) the global flags, so
    they work before or after it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in {id(p): p for p in action.choices.values()}.values():
                _global_flags(child, top=False)
                _share_global_flags(child)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drift-detector",
        description="Kafka-native drift detection for ML model inputs and outputs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_flags(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="consume events from Kafka and produce alerts")
    run.add_argument("--config", required=True, type=Path, help=CONFIG_HELP)
    run.add_argument(
        "--until-end",
        action="store_true",
        help="stop after reaching the end offsets seen at start (backfills, benchmarks)",
    )

    rep = sub.add_parser("replay", help="run the engine on a JSON-lines file")
    rep.add_argument("--config", required=True, type=Path, help=CONFIG_HELP)
    rep.add_argument("--input", required=True, help="events, one JSON object per line; - = stdin")
    rep.add_argument("--dead-letter", type=Path, help="write rejected records here (JSON lines)")
    rep.add_argument(
        "--labels", type=Path, help="label records, one JSON object per line (needs label:)"
    )

    base = sub.add_parser("baseline", help="summarise training data into a baseline file")
    base.add_argument("--config", required=True, type=Path, help=CONFIG_HELP)
    base.add_argument("--input", required=True, help="training data: .jsonl, .csv, .parquet, -")
    base.add_argument("--out", required=True, type=Path, help="baseline file to write (JSON)")

    rep_html = sub.add_parser("report", help="replay a file and write the HTML drift report")
    rep_html.add_argument("--config", required=True, type=Path, help=CONFIG_HELP)
    rep_html.add_argument("--input", required=True, help="events, one JSON object per line")
    rep_html.add_argument("--out", type=Path, help="HTML file to write")
    rep_html.add_argument("--json", type=Path, help="the same report as JSON (docs/report.md)")
    rep_html.add_argument(
        "--labels", type=Path, help="label records, one JSON object per line (needs label:)"
    )

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument(
        "--config", required=True, type=Path, help="a detector or router config file (YAML)"
    )
    routing_cli.register(sub)  # route, silence
    _share_global_flags(parser)  # last: every subcommand, including those added above
    return parser


def _replay(
    config: Config, source: str, dead_letter: Path | None, labels: Path | None = None
) -> int:
    out = sys.stdout.buffer
    if labels is not None and config.label is None:
        raise ConfigError("--labels: the config has no label section (label.path)")
    _json_lines(config, "replay", labels is not None)

    def emit(alert: AlertEvent) -> None:
        out.write(alert_bytes(alert) + b"\n")

    try:
        label_file = labels.open("rb") if labels is not None else None
    except OSError as exc:
        raise ConfigError(f"--labels: cannot read {labels}: {exc.strerror}") from exc
    label_lines = read_lines(label_file) if label_file is not None else None
    dlq_file = dead_letter.open("wb") if dead_letter else None

    def reject(record: int, rejection: Rejection, value: bytes) -> None:
        if dlq_file is not None:
            dlq_file.write(rejection_line(record, rejection, value) + b"\n")

    tune_gc()
    try:
        if source == "-":
            with replay_progress(sys.stdin.buffer, read_lines(sys.stdin.buffer)) as lines:
                report = replay(config, lines, emit, reject, label_lines)
        else:
            try:
                stream = open(source, "rb")  # noqa: SIM115 - closed below, wraps OSError
            except OSError as exc:
                raise ConfigError(f"--input: cannot read {source}: {exc.strerror}") from exc
            with stream, replay_progress(stream, read_lines(stream)) as lines:
                report = replay(config, lines, emit, reject, label_lines)
    finally:
        if dlq_file is not None:
            dlq_file.close()
        if label_file is not None:
            label_file.close()
    out.flush()
    summary: dict[str, Any] = {
        "records": report.records,
        "rejected": dict(report.rejected),
        "alerts": report.alerts,
        "series": report.series,
    }
    if labels is not None and report.engine is not None:
        summary["labels"] = labels_summary(
            report.engine.performance, report.labels, report.labels_rejected
        )
    emit_summary("replay", summary)
    return 0


def _json_lines(config: Config, command: str, labels: bool = False) -> None:
    """Files are JSON lines: a binary format's records cannot be split into lines."""
    specs = [("event", config.event)] + ([("label", config.label)] if labels else [])
    for where, spec in specs:
        if spec is not None and spec.format != "json":
            raise ConfigError(
                f"{where}.format: {command} reads JSON lines, not {spec.format} records; run "
                "the detector on the topic, or feed the records to detector.Monitor "
                "(docs/formats.md)"
            )


def _baseline(config: Config, source: str, out: Path) -> int:
    from detector.baseline import BaselineBuilder
    from detector.inputs import iter_records
    from detector.labels.baseline import LabelSummary

    _json_lines(config, "baseline", config.label is not None)
    builder = BaselineBuilder(config)
    labels = LabelSummary(config) if config.label is not None else None
    started, chunk = time.monotonic(), []
    show = sys.stderr.isatty()
    for record in iter_records(source):
        chunk.append(record)
        if len(chunk) == 5000:
            builder.add(chunk)
            if labels is not None:
                labels.add(chunk)
            chunk = []
            if show:
                rate = builder.events / max(time.monotonic() - started, 1e-9)
                sys.stderr.write(f"\rbaseline: {builder.events:,} rows  {rate:,.0f} rows/s")
    if chunk:
        builder.add(chunk)
        if labels is not None:
            labels.add(chunk)
    if show:
        sys.stderr.write("\n")
    baseline = builder.build()
    document = baseline.to_json()
    if labels is not None:  # what the labels and the training predictions looked like
        document = orjson.dumps({**orjson.loads(document), "labels": labels.build()})
    try:
        out.write_bytes(document)
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {out}: {exc.strerror}") from exc
    summary: dict[str, Any] = {
        "rows": builder.events,
        "rejected": dict(builder.rejected),
        "series": len(baseline.references),
        "seasonal": sum(1 for r in baseline.references.values() if getattr(r, "season", None)),
        "out": str(out),
    }
    if labels is not None:
        built = labels.build()
        summary["labels"] = {"count": built["count"], **built["metrics"]}
    emit_summary("baseline", summary)
    return 0


def _report(args: argparse.Namespace, config: Config) -> int:
    from detector.report.command import write_report

    summary = write_report(config, args.input, args.out, args.json, args.labels)
    emit_summary("report", summary)
    return 0


def print_config(config: BaseModel) -> None:
    """A validated config (detector or router) as JSON with defaults filled in, credentials
    redacted: check-config output ends up in CI logs."""
    print(orjson.dumps(redact(config.model_dump()), option=orjson.OPT_INDENT_2).decode())


def tune_gc() -> None:
    """Set up the garbage collector for a long batch loop: what exists now (modules, config,
    engine) is frozen out of collections, and the youngest generation is collected every
    100,000 allocations instead of 700. Each batch allocates tens of thousands of short-lived
    objects (one per Kafka message), which reference counting frees; collecting them every
    700 allocations cost the worker about a tenth of its time."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _run(config: Config, until_end: bool) -> int:
    from detector.kafka.report import summary_line  # Kafka stays out of replay's path
    from detector.kafka.worker import Worker
    from detector.observability.http import serve_worker
    from detector.observability.progress import run_progress

    worker = Worker(config, until_end=until_end)
    tune_gc()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("detector").info("signal %d: draining", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if sys.__stderr__ is not None:
        with contextlib.suppress(OSError, ValueError):  # a stderr without a file descriptor
            # `kill -USR1 <pid>` prints every thread's stack: what a stuck worker waits on.
            faulthandler.register(signal.SIGUSR1, file=sys.__stderr__)
    with serve_worker(config, worker.metrics), run_progress(worker.metrics, until_end):
        report = worker.run()
    emit_summary("run", summary_line(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        if args.command in routing_cli.COMMANDS:
            return routing_cli.run(args)
        if args.command == "check-config":  # a detector or a router config, told by content
            router = routing_cli.router_config(args.config)
            print_config(router if router is not None else load_config(args.config))
            return 0
        config = load_config(args.config)
        if args.command == "report":
            return _report(args, config)
        if args.command == "baseline":
            return _baseline(config, args.input, args.out)
        if args.command == "replay":
            return _replay(config, args.input, args.dead_letter, args.labels)
        return _run(config, args.until_end)
    except ConfigError as exc:
        emit_error(str(exc))
        return 2
    except DetectorError as exc:
        emit_error(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
