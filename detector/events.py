"""Decode raw inference events into columnar micro-batches.

The input contract: each record is one JSON object; the config names dotted paths (``a.b.0.c``:
keys, or list indexes for digits) to the event id, time, segment values and features. Records that
cannot be used at all are *rejected* with a reason code and end up on the dead-letter topic; a
missing or mistyped feature value is not a rejection, it is counted by the series it belongs to.

Rejection reasons (``drift.errors.class`` header on the dead-letter topic):

- ``too_large``: the record exceeds ``event.max_bytes``;
- ``not_json``: the bytes are not UTF-8 JSON;
- ``not_object``: valid JSON, but not an object (array, string, number, null);
- the reasons of a binary ``event.format`` (:mod:`detector.formats.base`): ``not_wire_format``,
  ``truncated``, ``unknown_schema``, ``registry_unavailable``, ``bad_schema``, ``bad_payload``;
- ``bad_time``: ``event.time`` is configured and the value is missing or not a time, or the
  event time is outside ``0 <= t < 7258118400`` epoch seconds (1970-01-01T00:00:00Z up to, not
  including, 2200-01-01T00:00:00Z). Without ``event.time`` the same range applies to the default
  time (the Kafka record timestamp; the line number in ``replay``). Alerts format every event
  time they carry, so no later step meets a time it cannot write.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

import numpy as np
import orjson

from detector._native import EventDecoder
from detector.columns import Categories
from detector.config import Config
from detector.formats import RecordFormat, json_max_bytes, record_format

MISSING_SEGMENT = "__missing__"
SCHEMA_SAMPLE = 64  # every 64th accepted event's field paths are collected for schema checks
_MILLIS_ABOVE = 1e11  # epoch seconds reach 1e11 in the year 5138; larger numbers are milliseconds
_MAX_SEGMENT_CHARS = 200
TIME_START = 0.0  # 1970-01-01T00:00:00Z, the first valid event time (epoch s)
TIME_END = 7258118400.0  # 2200-01-01T00:00:00Z, the first time past the valid range
_TIME_RANGE = (
    "0 <= t < 7258118400 (1970-01-01T00:00:00Z up to, not including, 2200-01-01T00:00:00Z)"
)


class _Decoded(Protocol):
    batch: Any
    rejections: list[Rejection]


R = TypeVar("R", bound=_Decoded)


@dataclass(frozen=True)
class Rejection:
    """A record that cannot be used; ``position`` is its index in the decoded input."""

    position: int
    reason: str
    message: str


@dataclass
class EventBatch:
    """Accepted events of one micro-batch, in input order, one column per field.

    Numeric values are NaN when missing or mistyped; ``type_errors`` tells the two apart (for
    every feature, categorical ones included: an object or list where a category belongs).
    Texts (segment values, categories) are :class:`~detector.columns.Categories`: codes into a
    vocabulary, code -1 where a category is missing.
    """

    positions: list[int]
    times: np.ndarray
    ids: list[str | None]
    segments: dict[str, Categories]
    numeric: dict[str, np.ndarray]
    type_errors: dict[str, np.ndarray]
    categorical: dict[str, Categories]
    schema_samples: list[tuple[int, set[str]]] = field(default_factory=list)  # (row, paths)

    @property
    def size(self) -> int:
        return len(self.positions)


@dataclass
class DecodeResult:
    batch: EventBatch
    rejections: list[Rejection] = field(default_factory=list)


@dataclass
class Row:
    """One accepted event, as the per-record decoder reads it."""

    time: float
    ident: str | None
    segments: list[str]
    numeric: list[tuple[float, bool]]  # (value, type error); NaN when missing or mistyped
    categorical: list[tuple[str | None, bool]]  # (text, type error); None when missing


def compile_path(path: str) -> tuple[str | int, ...]:
    """Steps of a dotted path: ASCII digits index lists (and match the same key in objects)."""
    return tuple(int(p) if p.isascii() and p.isdigit() else p for p in path.split("."))


def extract(obj: Any, path: tuple[str | int, ...]) -> Any:
    """Follow a compiled dotted path; ``None`` when any step is absent.

    >>> extract({"a": {"b": [10, {"c": 3}]}}, ("a", "b", 1, "c"))
    3
    >>> extract({"a": 1}, ("a", "b")) is None
    True
    """
    for step in path:
        if isinstance(step, int) and isinstance(obj, list):
            obj = obj[step] if -len(obj) <= step < len(obj) else None
        elif isinstance(obj, dict):
            obj = obj.get(step if isinstance(step, str) else str(step))
        else:
            return None
    return obj


def parse_time(value: Any) -> float | None:
    """Event time in epoch seconds, or ``None`` if the value is not a time.

    >>> parse_time("2026-01-02T03:04:05Z"), parse_time(1767323045), parse_time(1767323045000)
    (1767323045.0, 1767323045.0, 1767323045.0)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value) / 1000.0 if abs(value) > _MILLIS_ABOVE else float(value)
        return seconds if math.isfinite(seconds) else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None  # RFC 3339 requires an offset; guessing a zone would shift alerts
        return parsed.timestamp()
    return None


def time_in_range(seconds: float) -> bool:
    """Whether an event time (epoch s) is in ``TIME_START <= t < TIME_END``; NaN is not.

    >>> time_in_range(0.0), time_in_range(7258118399.999), time_in_range(7258118400.0)
    (True, True, False)
    """
    return TIME_START <= seconds < TIME_END


def event_time(path: str | None, value: Any, default: float) -> float | str:
    """A record's event time (epoch s), or the message of its ``bad_time`` rejection.

    ``path`` is the configured time path (``event.time``, ``label.time``) and ``value`` what the
    record holds there; without a path the time is ``default``, the record timestamp. Either
    way it must be in range (:func:`time_in_range`).

    >>> event_time("ts", 1767225600000, 0.0), event_time(None, None, 12.0)
    (1767225600.0, 12.0)
    >>> event_time("ts", -1, 0.0)  # doctest: +ELLIPSIS
    'ts=-1 is -1.0 s, outside the event time range 0 <= t < 7258118400 (1970-01-01T00:00:00Z up...'
    """
    if path is None:
        seconds = float(default)
        if time_in_range(seconds):
            return seconds
        return f"record timestamp {seconds!r} s is outside the event time range {_TIME_RANGE}"
    parsed = parse_time(value)
    if parsed is None:
        return f"{path}={value!r} is not an RFC 3339 or epoch time"[:500]
    if not time_in_range(parsed):
        message = f"{path}={value!r} is {parsed!r} s, outside the event time range {_TIME_RANGE}"
        return message[:500]
    return parsed


def leaf_paths(event: Any, prefix: str = "", limit: int = 1000) -> set[str]:
    """Dotted paths of the scalar leaves of a JSON object (lists count as leaves).

    >>> sorted(leaf_paths({"a": {"b": 1, "c": [1, 2]}, "d": None}))
    ['a.b', 'a.c', 'd']
    """
    paths: set[str] = set()
    stack = [(prefix, event)]
    while stack and len(paths) < limit:
        where, value = stack.pop()
        if isinstance(value, dict) and value:
            stack += [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()]
        else:
            paths.add(where)
    return paths


def categorical_text(value: Any) -> str | None:
    """A category as text: strings as they are, numbers by repr, booleans as true/false."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return None


def segment_text(value: Any) -> str:
    """A segment value as text: missing ones labelled, others as JSON, at most 200 chars."""
    if value is None:
        return MISSING_SEGMENT
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text[:_MAX_SEGMENT_CHARS]


def numeric_value(value: Any) -> tuple[float, bool]:
    """A numeric feature's value and whether it is a type error (NaN for both kinds of gap)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), False
    return math.nan, value is not None


def categorical_value(value: Any) -> tuple[str | None, bool]:
    """A category's text and whether it is a type error (an object or a list)."""
    text = categorical_text(value)
    return text, text is None and value is not None


def timed_object(
    position: int,
    raw: bytes | None,
    max_bytes: int,
    time_path: tuple[str | int, ...] | None,
    time_name: str | None,
    default_time: float,
) -> tuple[dict[str, Any], float] | Rejection:
    """A record as a JSON object with its event time, or why it is not one: the checks every
    record (event or label) goes through first, in this order."""
    if raw is None:
        return Rejection(position, "not_json", "record has no value")
    if len(raw) > max_bytes:
        return Rejection(position, "too_large", f"{len(raw)} bytes > {max_bytes}")
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejection(position, "not_json", str(exc))
    if not isinstance(record, dict):
        return Rejection(position, "not_object", f"JSON {type(record).__name__}, not object")
    raw_time = extract(record, time_path) if time_path is not None else None
    when = event_time(time_name, raw_time, default_time)
    if isinstance(when, str):
        return Rejection(position, "bad_time", when)
    return record, when


def through_format(
    fmt: RecordFormat,
    values: list[bytes | None],
    default_times: Sequence[float] | np.ndarray,
    decode: Callable[[list[bytes | None], list[float]], R],
) -> R:
    """``decode`` (a JSON decoder's batch decode) run on what ``fmt`` makes of ``values``: its
    result with positions into ``values`` and ``fmt``'s own rejections merged in, in order."""
    converted, index, failed = fmt.convert(values)
    result = decode(converted, [float(default_times[i]) for i in index])
    batch = result.batch
    batch.positions = [index[p] for p in batch.positions]
    rejections = [replace(r, position=index[r.position]) for r in result.rejections]
    rejections += [Rejection(*f) for f in failed]
    result.rejections = sorted(rejections, key=lambda r: r.position)
    return result


class Decoder:
    """Turns raw record values into an :class:`EventBatch` using the config's field paths.

    :meth:`decode_record` is the specification of one record's decoding (orjson, in Python);
    :meth:`decode_python` applies it to a batch and builds the columns. :meth:`decode` gives
    the same result faster: a Rust scanner decodes the records whose row is certain and hands
    every other one to :meth:`decode_record`.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        event = config.event
        self._id = compile_path(event.id) if event.id else None
        self._time = compile_path(event.time) if event.time else None
        self._time_name = event.time or None
        fields = config.decoded_fields()  # monitored fields and prediction.confidence
        self._segments = [(s.name, compile_path(s.path)) for s in config.segments]
        self._numeric = [(f.name, compile_path(f.path)) for f in fields if f.type == "numeric"]
        self._categorical = [
            (f.name, compile_path(f.path)) for f in fields if f.type == "categorical"
        ]
        self.accepted = 0  # events accepted so far, across batches: schema sampling is global
        # event.format: records that are not JSON text are decoded to JSON first (formats/)
        self.format = record_format(event, config.schema_registry, event.max_bytes)
        self.max_bytes = json_max_bytes(self.format)
        self._native = EventDecoder(
            self._id,
            self._time,
            [path for _, path in self._segments],
            [path for _, path in self._numeric],
            [path for _, path in self._categorical],
            self.max_bytes,
            SCHEMA_SAMPLE,
        )

    def decode_record(
        self, position: int, raw: bytes | None, default_time: float
    ) -> Row | Rejection:
        """One record: its row, or why it cannot be used."""
        found = timed_object(
            position, raw, self.max_bytes, self._time, self._time_name, default_time
        )
        if isinstance(found, Rejection):
            return found
        event, when = found
        ident = extract(event, self._id) if self._id is not None else None
        return Row(
            time=when,
            ident=None if ident is None else str(ident),
            segments=[segment_text(extract(event, path)) for _, path in self._segments],
            numeric=[numeric_value(extract(event, path)) for _, path in self._numeric],
            categorical=[categorical_value(extract(event, path)) for _, path in self._categorical],
        )

    def decode(
        self, values: Sequence[bytes | None], default_times: Sequence[float] | np.ndarray
    ) -> DecodeResult:
        """Decode ``values``; ``default_times`` (epoch s) is used when no time path is set.

        The same result as :meth:`decode_python`, rejection messages and ``accepted`` included.
        """
        records = values if isinstance(values, list) else list(values)
        if not self.format.is_json:
            return through_format(self.format, records, default_times, self._decode_json)
        return self._decode_json(records, default_times)

    def _decode_json(
        self, records: list[bytes | None], default_times: Sequence[float] | np.ndarray
    ) -> DecodeResult:

        def resolve(position: int, raw: bytes | None) -> Row | Rejection:
            return self.decode_record(position, raw, default_times[position])

        # With a time path the native decoder never reads the default times: skip the copy.
        defaults = np.empty(0) if self._time else np.asarray(default_times, np.float64)
        out = self._native.decode(records, defaults, self.accepted, resolve)
        self.accepted = out.accepted
        positions: list[int] = out.positions.tolist()
        n = len(positions)
        samples = [
            (row, leaf_paths(orjson.loads(records[positions[row]] or b"{}"))) for row in out.samples
        ]
        numeric, type_errors = {}, {}
        for (name, _), (column, errors) in zip(self._numeric, out.numeric, strict=True):
            numeric[name], type_errors[name] = column, errors
        categorical = {}
        for (name, _), (codes, vocabulary, errors) in zip(
            self._categorical, out.categorical, strict=True
        ):
            categorical[name], type_errors[name] = Categories(codes, vocabulary), errors
        batch = EventBatch(
            positions=positions,
            times=out.times,
            ids=[None] * n if out.ids is None else out.ids,
            segments={
                name: Categories(codes, vocabulary)
                for (name, _), (codes, vocabulary) in zip(self._segments, out.segments, strict=True)
            },
            numeric=numeric,
            type_errors=type_errors,
            categorical=categorical,
            schema_samples=samples,
        )
        return DecodeResult(batch, [Rejection(*r) for r in out.rejections])

    def decode_python(
        self, values: Sequence[bytes | None], default_times: Sequence[float]
    ) -> DecodeResult:
        """:meth:`decode` record by record in Python: the reference the native decoder meets."""
        if not self.format.is_json:
            records = values if isinstance(values, list) else list(values)
            return through_format(self.format, records, default_times, self._python_json)
        return self._python_json(values, default_times)

    def _python_json(
        self, values: Sequence[bytes | None], default_times: Sequence[float]
    ) -> DecodeResult:
        rows: list[Row] = []
        positions: list[int] = []
        rejections: list[Rejection] = []
        samples: list[tuple[int, set[str]]] = []
        for position, raw in enumerate(values):
            row = self.decode_record(position, raw, default_times[position])
            if isinstance(row, Rejection):
                rejections.append(row)
                continue
            if self.accepted % SCHEMA_SAMPLE == 0:
                samples.append((len(rows), leaf_paths(orjson.loads(raw or b"{}"))))
            self.accepted += 1
            rows.append(row)
            positions.append(position)
        return DecodeResult(self._columns(rows, positions, samples), rejections)

    def _columns(
        self, rows: list[Row], positions: list[int], samples: list[tuple[int, set[str]]]
    ) -> EventBatch:
        n = len(rows)
        segments = {
            name: Categories.from_values([r.segments[i] for r in rows])
            for i, (name, _) in enumerate(self._segments)
        }
        numeric: dict[str, np.ndarray] = {}
        type_errors: dict[str, np.ndarray] = {}
        for i, (name, _) in enumerate(self._numeric):
            pairs = [r.numeric[i] for r in rows]
            numeric[name] = np.fromiter((v for v, _ in pairs), np.float64, n)
            type_errors[name] = np.fromiter((e for _, e in pairs), bool, n)
        categorical: dict[str, Categories] = {}
        for i, (name, _) in enumerate(self._categorical):
            texts = [r.categorical[i] for r in rows]
            categorical[name] = Categories.from_values([t for t, _ in texts])
            type_errors[name] = np.fromiter((e for _, e in texts), bool, n)
        return EventBatch(
            positions=positions,
            times=np.fromiter((r.time for r in rows), np.float64, n),
            ids=[r.ident for r in rows],
            segments=segments,
            numeric=numeric,
            type_errors=type_errors,
            categorical=categorical,
            schema_samples=samples,
        )
