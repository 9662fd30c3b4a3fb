"""Decode raw inference events into columnar micro-batches.

The input contract: each record is one JSON object; the config names dotted paths (``a.b.0.c``:
keys, or list indexes for digits) to the event id, time, segment values and features. Records that
cannot be used at all are *rejected* with a reason code and end up on the dead-letter topic; a
missing or mistyped feature value is not a rejection, it is counted by the series it belongs to.

Rejection reasons (``drift.errors.class`` header on the dead-letter topic):

- ``too_large``: the record exceeds ``event.max_bytes``;
- ``not_json``: the bytes are not UTF-8 JSON;
- ``not_object``: valid JSON, but not an object (array, string, number, null);
- ``bad_time``: ``event.time`` is configured and the value is missing or not a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from detector.config import Config

MISSING_SEGMENT = "__missing__"
SCHEMA_SAMPLE = 64  # every 64th accepted event's field paths are collected for schema checks
_MILLIS_ABOVE = 1e11  # epoch seconds reach 1e11 in the year 5138; larger numbers are milliseconds
_MAX_SEGMENT_CHARS = 200


@dataclass(frozen=True)
class Rejection:
    """A record that cannot be used; ``position`` is its index in the decoded input."""

    position: int
    reason: str
    message: str


@dataclass
class EventBatch:
    """Accepted events of one micro-batch, in input order, one array or list per field.

    Numeric values are NaN when missing or mistyped; ``type_errors`` tells the two apart (for
    every feature, categorical ones included: an object or list where a category belongs).
    """

    positions: list[int]
    times: np.ndarray
    ids: list[str | None]
    segments: dict[str, list[str]]
    numeric: dict[str, np.ndarray]
    type_errors: dict[str, np.ndarray]
    categorical: dict[str, list[str | None]]
    schema_samples: list[tuple[int, set[str]]] = field(default_factory=list)  # (row, paths)

    @property
    def size(self) -> int:
        return len(self.positions)


@dataclass
class DecodeResult:
    batch: EventBatch
    rejections: list[Rejection] = field(default_factory=list)


def _compile_path(path: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isdigit() else p for p in path.split("."))


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


def _segment_value(value: Any) -> str:
    if value is None:
        return MISSING_SEGMENT
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text[:_MAX_SEGMENT_CHARS]


def _getter(path: tuple[str | int, ...]) -> Callable[[dict[str, Any]], Any]:
    """``extract(event, path)`` for an event object, with the first step a plain ``get`` (no
    call of ``extract`` at all for a one-step path: ``ts``, ``event_id``, ``features``)."""
    if not path:
        return lambda event: event
    key, rest = str(path[0]), path[1:]  # extract looks an int step up as str in a dict
    if not rest:
        return lambda event: event.get(key)
    return lambda event: extract(event.get(key), rest)


class _Group:
    """Fields read from one object of the event (``features``, ``segment``, ...): the object is
    looked up once per event and its fields taken in one ``map`` (C), not one ``extract`` each.
    Rows go one after another into one flat list (no object per event for the garbage collector
    to track), cut into columns by strided slices once per batch."""

    def __init__(self, parent: tuple[str | int, ...]) -> None:
        self.parent = _getter(parent)
        self.steps: list[str | int] = []  # each field's last path step
        self.keys: list[str] = []  # the same as dict keys (extract looks up str(int) in dicts)

    def add(self, path: tuple[str | int, ...]) -> int:
        """Take a field; its column index."""
        self.steps.append(path[-1])
        self.keys.append(str(path[-1]))
        return len(self.steps) - 1

    def read(self, event: dict[str, Any], rows: list[Any]) -> None:
        """Append the fields' raw values (what ``extract`` gives for each full path) to rows."""
        obj = self.parent(event)
        if isinstance(obj, dict):
            rows.extend(map(obj.get, self.keys))
        else:  # a list, or nothing
            rows.extend(extract(obj, (step,)) for step in self.steps)

    def columns(self, rows: list[Any]) -> list[list[Any]]:
        """One list per field: the batch's raw values in event order."""
        width = len(self.steps)
        return [rows[i::width] for i in range(width)]


_NUMBERS = frozenset({float, int, type(None)})  # exact types: bool is not one of them
_TEXTS = frozenset({str, type(None)})


def _numeric_column(raw: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Values (NaN when missing or mistyped) and type errors of one numeric field."""
    if set(map(type, raw)) <= _NUMBERS:  # the usual column: numpy turns None into NaN itself
        return np.array(raw, dtype=np.float64), np.zeros(len(raw), dtype=bool)
    usable = [isinstance(v, int | float) and not isinstance(v, bool) for v in raw]
    values = [float(v) if ok else math.nan for v, ok in zip(raw, usable, strict=True)]
    errors = [not ok and v is not None for v, ok in zip(raw, usable, strict=True)]
    return np.asarray(values, dtype=np.float64), np.asarray(errors, dtype=bool)


def _categorical_column(raw: list[Any]) -> tuple[list[str | None], np.ndarray]:
    """Categories as text (None when missing or mistyped) and type errors of one field."""
    if set(map(type, raw)) <= _TEXTS:
        return raw, np.zeros(len(raw), dtype=bool)
    texts = [categorical_text(v) for v in raw]
    errors = [t is None and v is not None for t, v in zip(texts, raw, strict=True)]
    return texts, np.asarray(errors, dtype=bool)


def _segment_column(raw: list[Any]) -> list[str]:
    if raw and set(map(type, raw)) == {str} and max(map(len, raw)) <= _MAX_SEGMENT_CHARS:
        return raw
    return [_segment_value(v) for v in raw]


class Decoder:
    """Turns raw record values into an :class:`EventBatch` using the config's field paths."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._id = _getter(_compile_path(config.event.id)) if config.event.id else None
        self._time = _getter(_compile_path(config.event.time)) if config.event.time else None
        groups: dict[tuple[str | int, ...], _Group] = {}

        def place(path: str) -> tuple[_Group, int]:
            steps = _compile_path(path)
            group = groups.setdefault(steps[:-1], _Group(steps[:-1]))
            return group, group.add(steps)

        self._segments = [(s.name, place(s.path)) for s in config.segments]
        fields = config.monitored_fields()
        self._numeric = [(f.name, place(f.path)) for f in fields if f.type == "numeric"]
        self._categorical = [(f.name, place(f.path)) for f in fields if f.type == "categorical"]
        self._groups = list(groups.values())
        self.accepted = 0  # events accepted so far, across batches: schema sampling is global

    def decode(
        self, values: Sequence[bytes | None], default_times: Sequence[float]
    ) -> DecodeResult:
        """Decode ``values``; ``default_times`` (epoch s) is used when no time path is set."""
        max_bytes = self.config.event.max_bytes
        rejections: list[Rejection] = []
        positions: list[int] = []
        times: list[float] = []
        ids: list[str | None] = []
        samples: list[tuple[int, set[str]]] = []
        groups = self._groups
        rows: list[list[Any]] = [[] for _ in groups]

        for position, raw in enumerate(values):
            if raw is None:
                rejections.append(Rejection(position, "not_json", "record has no value"))
                continue
            if len(raw) > max_bytes:
                rejections.append(
                    Rejection(position, "too_large", f"{len(raw)} bytes > {max_bytes}")
                )
                continue
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                rejections.append(Rejection(position, "not_json", str(exc)))
                continue
            if not isinstance(event, dict):
                kind = type(event).__name__
                rejections.append(Rejection(position, "not_object", f"JSON {kind}, not object"))
                continue
            if self._time is not None:
                raw_time = self._time(event)
                when = parse_time(raw_time)
                if when is None:
                    msg = f"{self.config.event.time}={raw_time!r} is not an RFC 3339 or epoch time"
                    rejections.append(Rejection(position, "bad_time", msg[:500]))
                    continue
            else:
                when = default_times[position]

            if self.accepted % SCHEMA_SAMPLE == 0:
                samples.append((len(positions), leaf_paths(event)))
            self.accepted += 1
            positions.append(position)
            times.append(when)
            ident = self._id(event) if self._id is not None else None
            ids.append(None if ident is None else str(ident))
            for group, sink in zip(groups, rows, strict=True):
                group.read(event, sink)

        columns = {id(g): g.columns(r) for g, r in zip(groups, rows, strict=True)}
        segments = {
            name: _segment_column(columns[id(group)][index])
            for name, (group, index) in self._segments
        }
        numeric: dict[str, np.ndarray] = {}
        type_errors: dict[str, np.ndarray] = {}
        categorical: dict[str, list[str | None]] = {}
        for name, (group, index) in self._numeric:
            numeric[name], type_errors[name] = _numeric_column(columns[id(group)][index])
        for name, (group, index) in self._categorical:
            categorical[name], type_errors[name] = _categorical_column(columns[id(group)][index])
        batch = EventBatch(
            positions=positions,
            times=np.asarray(times, dtype=np.float64),
            ids=ids,
            segments=segments,
            numeric=numeric,
            type_errors=type_errors,
            categorical=categorical,
            schema_samples=samples,
        )
        return DecodeResult(batch, rejections)
