"""The ``route`` and ``silence`` subcommands (registered by :mod:`detector.cli`).

- ``route --config FILE``: run the router until SIGTERM/SIGINT.
- ``silence add --config FILE --match NAME=VALUE... --for 2h --comment TEXT [--by NAME]``
- ``silence list --config FILE [--all]`` and ``silence expire --config FILE ID``

``route`` needs every ``${VAR}`` of the config set; ``silence`` reads only ``kafka`` and
``topics``, so the sinks' secrets need not be in the environment of whoever runs it.
``check-config`` (in :mod:`detector.cli`) tells router configs apart with
:func:`router_config` and prints them as it prints detector configs, secrets redacted.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

from detector.config import read_yaml
from detector.errors import ConfigError
from detector.observability.logs import emit_summary
from detector.routing.config import (
    RouterConfig,
    load_router_config,
    load_router_kafka,
    parse_router_config,
    seconds,
)

COMMANDS = ("route", "silence")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def register(sub: Any) -> None:
    """Add ``route`` and ``silence`` to the ``drift-detector`` subparsers."""
    route = sub.add_parser("route", help="deliver alerts to PagerDuty, Alertmanager and webhooks")
    route.add_argument("--config", required=True, type=Path, help="router config (YAML)")

    silence = sub.add_parser("silence", help="add, list or expire the router's silences")
    actions = silence.add_subparsers(dest="silence_command", required=True)
    add = actions.add_parser("add", help="silence alerts matching every --match")
    add.add_argument("--config", required=True, type=Path, help="router config (YAML)")
    add.add_argument(
        "--match",
        action="append",
        required=True,
        metavar="MATCHER",
        help="label=value, label!=value, label=~regex or label!~regex; labels: alertname, "
        "model, kind, feature, segment (e.g. country=DE, or all), severity",
    )
    add.add_argument("--for", dest="duration", required=True, help="how long: 30m, 2h, 1d")
    add.add_argument("--comment", required=True, help="why (shown by list)")
    add.add_argument("--by", default=_user(), help="who (default: the current user)")
    listing = actions.add_parser("list", help="print the active silences")
    listing.add_argument("--config", required=True, type=Path, help="router config (YAML)")
    listing.add_argument("--all", action="store_true", help="include expired ones")
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("--config", required=True, type=Path, help="router config (YAML)")
    expire.add_argument("id", help="the silence id printed by add and list")


def is_router_config(data: Any) -> bool:
    """A router config has ``sinks`` or ``routes`` at the top level; a detector config neither."""
    return isinstance(data, dict) and ("sinks" in data or "routes" in data)


def router_config(path: Path) -> RouterConfig | None:
    """The validated router config in ``path`` (``check-config``), or None if ``path`` holds a
    detector config: errors name the router config's fields."""
    data = read_yaml(path)
    return parse_router_config(data, str(path)) if is_router_config(data) else None


def _route(args: argparse.Namespace) -> int:
    from detector.routing.router import Router
    from detector.routing.service import serve_router

    router = Router(load_router_config(args.config))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("detector.router").info("signal %d: stopping", signum)
        router.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with serve_router(router.config, router.metrics):
        report = router.run()
    emit_summary("route", report.as_dict())  # a JSON log line with --log-format json
    return 0


def _silence(args: argparse.Namespace) -> int:
    from detector.routing import silences

    config = load_router_kafka(args.config)
    if args.silence_command == "add":
        try:
            duration = float(seconds(args.duration))
        except ValueError as exc:
            raise ConfigError(f"--for: {exc}") from exc
        if duration <= 0:
            raise ConfigError("--for: must be positive")
        made = silences.add_silence(config, args.match, duration, args.by, args.comment)
        print(made.id)
        return 0
    if args.silence_command == "expire":
        print(silences.expire_silence(config, args.id).line(time.time()))
        return 0
    now = time.time()
    book = silences.read_silences(config)
    for item in sorted(book.silences.values(), key=lambda s: s.ends_at):
        if args.all or now < item.ends_at:
            print(item.line(now))
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch ``route`` / ``silence``; errors propagate to :func:`detector.cli.main`."""
    if args.command == "route":
        return _route(args)
    return _silence(args)
