"""The decoder interface every input format implements, and the JSON format.

A :class:`RecordFormat` turns one record's bytes into the JSON text of the object it holds
(:meth:`RecordFormat.to_json`), or raises :class:`FormatError` with a reason. The event and label
decoders run their JSON path on what it returns, so a format only has to decode; field paths,
validation and the rejections of the JSON path stay the same for every format.

Rejection reasons of binary formats (``drift.errors.class`` header on the dead-letter topic),
besides the JSON path's (``too_large``, ``not_object``, ``bad_time``, ...):

- ``not_wire_format``: the record does not start with the Confluent magic byte 0 (or has no
  value);
- ``truncated``: the record ends inside its header or inside the payload;
- ``unknown_schema``: the registry does not know the record's schema id;
- ``registry_unavailable``: the registry could not be asked (unreachable, timeout, 5xx,
  refused credentials); the record is rejected, the worker goes on;
- ``bad_schema``: the schema the id names cannot be used (not parseable, not the configured
  format, no such Protobuf message);
- ``bad_payload``: the payload does not decode with its schema (or has bytes left over).
"""

from __future__ import annotations

import base64
import datetime
import decimal
from collections.abc import Sequence
from typing import Any

import orjson

_UNLIMITED = 2**62  # the JSON path's size limit once the raw record passed ``max_bytes``


class FormatError(Exception):
    """Why a record cannot be decoded: ``reason`` (a rejection reason code) and a message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message[:500]


def json_default(value: Any) -> Any:
    """JSON for decoded values orjson does not know: bytes as base64 text, decimals as numbers,
    dates and times as RFC 3339 / ISO 8601 text (orjson writes datetimes itself)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(record: Any) -> bytes:
    """A decoded record as the JSON text the event decoder reads."""
    try:
        return orjson.dumps(record, default=json_default, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise FormatError("bad_payload", f"the decoded record is not JSON: {exc}") from exc


class RecordFormat:
    """One input format: record bytes in, JSON text of the record out.

    Subclasses implement :meth:`to_json`; :meth:`convert` applies it to a batch.
    ``is_json`` formats are passed through untouched (and their lines may be stripped).
    """

    name = "json"
    is_json = True

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def to_json(self, raw: bytes) -> bytes:
        """The JSON text of the record in ``raw``; :class:`FormatError` when there is none."""
        return raw

    def convert(
        self, values: Sequence[bytes | None]
    ) -> tuple[list[bytes | None], list[int], list[tuple[int, str, str]]]:
        """Each decodable record's JSON, the positions they came from, and the rejections
        (position into ``values``, reason, message). The size limit applies to the record as
        it came."""
        out: list[bytes | None] = []
        index: list[int] = []
        rejections: list[tuple[int, str, str]] = []
        for position, raw in enumerate(values):
            if raw is None:
                rejections.append((position, "not_wire_format", "record has no value"))
                continue
            if len(raw) > self.max_bytes:
                rejections.append((position, "too_large", f"{len(raw)} bytes > {self.max_bytes}"))
                continue
            try:
                out.append(self.to_json(raw))
            except FormatError as exc:
                rejections.append((position, exc.reason, exc.message))
                continue
            except Exception as exc:  # a decoder's surprise is one bad record, not a crash
                message = f"{type(exc).__name__}: {exc}"[:500]
                rejections.append((position, "bad_payload", message))
                continue
            index.append(position)
        return out, index, rejections


class JsonFormat(RecordFormat):
    """JSON text: the decoders read it as it is."""


def json_max_bytes(fmt: RecordFormat) -> int:
    """The size limit of the JSON path behind ``fmt``: the configured one for JSON; for other
    formats the raw record was checked already and its JSON may well be larger."""
    return fmt.max_bytes if fmt.is_json else _UNLIMITED
