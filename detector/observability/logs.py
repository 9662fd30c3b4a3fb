"""Logs on stderr: readable text (the default) or one JSON object per line (``--log-format json``).

A JSON line has ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger`` and ``message``,
then any ``extra={...}`` fields of the call, and ``exception`` (the formatted traceback) when
there is one. In JSON mode the end-of-run summary and a fatal error are JSON lines too, so a log
shipper sees nothing else on stderr:

    {"time": "...", "level": "INFO", "logger": "detector.cli", "message": "run summary",
     "summary": {"records": 16000, ...}}

In text mode they keep their historical form (``run summary: {...}``, ``drift-detector: ...``),
and a newline or other control character in a message (an alert's segment value, a sink's
response) is written escaped (``\\n``, ``\\x1b``), so one record is always one line; only a
traceback spans lines.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_format: LogFormat = "text"
# C0 and C1 controls, DEL and Unicode line/paragraph separators: anything a terminal or a log
# shipper could take for a line break or an escape sequence.
_CONTROLS = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES = {c: _NAMED.get(chr(c)) or repr(chr(c))[1:-1] for c in _CONTROLS}


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json_line(fields: dict[str, Any]) -> str:
    return orjson.dumps(fields, default=str).decode()


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object (no newline inside: tracebacks are escaped).

    >>> record = logging.makeLogRecord(
    ...     {"name": "detector.worker", "levelname": "INFO", "msg": "assigned %s", "args": ([0],),
    ...      "created": 0.0, "partition_count": 1})
    >>> print(JsonFormatter().format(record).replace(',"', ',\\n "'))
    {"time":"1970-01-01T00:00:00.000Z",
     "level":"INFO",
     "logger":"detector.worker",
     "message":"assigned [0]",
     "partition_count":1}
    """

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                fields[key] = value
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exception"] = record.exc_text
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        return _json_line(fields)


class TextFormatter(logging.Formatter):
    r"""``TEXT_FORMAT`` with control characters of the message escaped (one record, one line).

    >>> record = logging.makeLogRecord(
    ...     {"name": "detector.router", "levelname": "INFO", "msg": "segment %s",
    ...      "args": ("DE\nINFO forged line\x1b[31m",)})
    >>> print(TextFormatter("%(levelname)s %(name)s %(message)s").format(record))
    INFO detector.router segment DE\nINFO forged line\x1b[31m
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = record.message.translate(_ESCAPES)
        return super().formatMessage(record)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record (or to a fixed stream)."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream)
        self._fixed = stream

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = self._fixed if self._fixed is not None else sys.stderr
        super().emit(record)


_handler: logging.Handler | None = None


def configure_logging(level: str, log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Send the root logger's records to ``stream`` (default: stderr) in the given format.

    Calling it again replaces the handler it installed before; other handlers are left alone.
    """
    global _format, _handler
    _format = log_format
    handler = _StderrHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level.upper())
    _handler = handler


def current_format() -> LogFormat:
    """The format chosen by the last :func:`configure_logging` (``text`` before any)."""
    return _format


def _record(level: str, message: str, **fields: Any) -> str:
    now = datetime.now(UTC).timestamp()
    head = {"time": _iso(now), "level": level, "logger": "detector.cli", "message": message}
    return _json_line({**head, **fields})


def emit_summary(command: str, summary: dict[str, Any], stream: TextIO | None = None) -> None:
    """The end-of-command summary on stderr: ``run summary: {...}`` or a JSON log line."""
    out = stream if stream is not None else sys.stderr
    if _format == "json":
        print(_record("INFO", f"{command} summary", summary=summary), file=out)
    else:
        print(f"{command} summary: {orjson.dumps(summary).decode()}", file=out)


def emit_error(message: str, stream: TextIO | None = None) -> None:
    """A fatal error on stderr: ``drift-detector: ...`` or a JSON log line."""
    out = stream if stream is not None else sys.stderr
    if _format == "json":
        print(_record("ERROR", message), file=out)
    else:
        print(f"drift-detector: {message}", file=out)
