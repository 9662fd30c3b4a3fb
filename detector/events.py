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
from collections.abc import Sequence
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


class Decoder:
    """Turns raw record values into an :class:`EventBatch` using the config's field paths."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._id = _compile_path(config.event.id) if config.event.id else None
        self._time = _compile_path(config.event.time) if config.event.time else None
        self._segments = [(s.name, _compile_path(s.path)) for s in config.segments]
        fields = config.monitored_fields()
        self._numeric = [(f.name, _compile_path(f.path)) for f in fields if f.type == "numeric"]
        self._categorical = [
            (f.name, _compile_path(f.path)) for f in fields if f.type == "categorical"
        ]
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
        segments: dict[str, list[str]] = {name: [] for name, _ in self._segments}
        numeric: dict[str, list[float]] = {name: [] for name, _ in self._numeric}
        type_errors: dict[str, list[bool]] = {
            name: [] for name, _ in self._numeric + self._categorical
        }
        categorical: dict[str, list[str | None]] = {name: [] for name, _ in self._categorical}
        samples: list[tuple[int, set[str]]] = []

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
                raw_time = extract(event, self._time)
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
            ident = extract(event, self._id) if self._id is not None else None
            ids.append(None if ident is None else str(ident))
            for name, path in self._segments:
                segments[name].append(_segment_value(extract(event, path)))
            for name, path in self._numeric:
                value = extract(event, path)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    numeric[name].append(float(value))
                    type_errors[name].append(False)
                else:
                    numeric[name].append(math.nan)
                    type_errors[name].append(value is not None)
            for name, path in self._categorical:
                value = extract(event, path)
                text = categorical_text(value)
                categorical[name].append(text)
                type_errors[name].append(text is None and value is not None)

        batch = EventBatch(
            positions=positions,
            times=np.asarray(times, dtype=np.float64),
            ids=ids,
            segments=segments,
            numeric={k: np.asarray(v, dtype=np.float64) for k, v in numeric.items()},
            type_errors={k: np.asarray(v, dtype=bool) for k, v in type_errors.items()},
            categorical=categorical,
            schema_samples=samples,
        )
        return DecodeResult(batch, rejections)
