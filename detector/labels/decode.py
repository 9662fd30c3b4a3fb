"""Label records into columnar batches (:class:`~detector.predictions.LabelBatch`).

A label record is one JSON object holding the event id (``label.id``, default ``event.id``),
its own event time (``label.time``, default ``event.time``: when the truth became known) and
the label (``label.path``), for example ``{"event_id": "e-42", "ts": "...", "label": 1}``.
Records that cannot be used go to the dead-letter topic with the reasons of the event decoder
(``too_large``, ``not_json``, ``not_object``, ``bad_time``; the label time, or the record
timestamp without a time path, must be in the same range as event times) plus two of their own:

- ``no_id``: the id is missing, so the label can never be joined;
- ``bad_label``: the label is missing or not of ``label.type``.

Binary labels become the classes ``"1"`` and ``"0"``
(:func:`~detector.predictions.binary_class`). Categorical classes are compared as text, numbers
written as the event decoder writes them (``5411`` becomes ``"5411"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector._native import EventDecoder
from detector.columns import Categories
from detector.config import Config, LabelSpec
from detector.events import (
    Rejection,
    Row,
    categorical_text,
    compile_path,
    extract,
    through_format,
    timed_object,
)
from detector.formats import json_max_bytes, record_format
from detector.predictions import LabelBatch, Value, binary_class

_NEVER = 2**62  # the scanner's schema sampling interval: label records are never sampled


@dataclass
class LabelDecodeResult:
    batch: LabelBatch
    rejections: list[Rejection] = field(default_factory=list)


def label_value(spec: LabelSpec, value: Any) -> Value | None:
    """The label as the join stores it, or ``None`` when it is not of ``spec.type``."""
    if spec.type == "binary":
        return binary_class(value)
    if spec.type == "categorical":
        return categorical_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class LabelDecoder:
    """Turns raw label record values into a :class:`LabelBatch`.

    :meth:`decode_record` is the specification of one record's decoding (orjson, in Python);
    :meth:`decode_python` applies it to a batch. :meth:`decode` gives the same result faster:
    the native scanner of the event decoder reads each record's id, time and label, and every
    record it cannot settle, or would reject for its id or label, goes to
    :meth:`decode_record`.
    """

    def __init__(self, config: Config) -> None:
        if config.label is None:
            raise ValueError("the config has no label section")
        self.spec = config.label
        # label.format: records that are not JSON text are decoded to JSON first (formats/)
        self.format = record_format(
            self.spec, config.schema_registry, config.event.max_bytes, "label"
        )
        self.max_bytes = json_max_bytes(self.format)
        id_path = self.spec.id or config.event.id
        time_path = self.spec.time or config.event.time
        self._id = compile_path(id_path) if id_path else None
        self._time = compile_path(time_path) if time_path else None
        self._time_name = time_path or None
        self._label = compile_path(self.spec.path)
        numeric = self.spec.type == "numeric"
        self._native = EventDecoder(
            self._id,
            self._time,
            [],
            [self._label] if numeric else [],
            [] if numeric else [self._label],
            self.max_bytes,
            _NEVER,
        )

    def decode_record(
        self, position: int, raw: bytes | None, default_time: float
    ) -> tuple[float, str, Value] | Rejection:
        """One record: (time, id, label), or why it cannot be used."""
        found = timed_object(
            position, raw, self.max_bytes, self._time, self._time_name, default_time
        )
        if isinstance(found, Rejection):
            return found
        record, when = found
        ident = extract(record, self._id) if self._id is not None else None
        if ident is None or isinstance(ident, dict | list):
            return Rejection(position, "no_id", "the label record has no id")
        raw_label = extract(record, self._label)
        value = label_value(self.spec, raw_label)
        if value is None:
            msg = f"{self.spec.path}={raw_label!r} is not a {self.spec.type} label"
            return Rejection(position, "bad_label", msg[:500])
        return when, str(ident), value

    def decode_python(
        self, values: Sequence[bytes | None], default_times: Sequence[float]
    ) -> LabelDecodeResult:
        """:meth:`decode` record by record in Python: the reference the native path meets."""
        if not self.format.is_json:
            return through_format(self.format, list(values), default_times, self._python_json)
        return self._python_json(values, default_times)

    def _python_json(
        self, values: Sequence[bytes | None], default_times: Sequence[float]
    ) -> LabelDecodeResult:
        rejections: list[Rejection] = []
        positions: list[int] = []
        times: list[float] = []
        ids: list[str] = []
        labels: list[Value] = []
        for position, raw in enumerate(values):
            found = self.decode_record(position, raw, default_times[position])
            if isinstance(found, Rejection):
                rejections.append(found)
                continue
            positions.append(position)
            times.append(found[0])
            ids.append(found[1])
            labels.append(found[2])
        batch = LabelBatch(positions, np.asarray(times, dtype=np.float64), ids, labels)
        return LabelDecodeResult(batch, rejections)

    def decode(
        self, values: Sequence[bytes | None], default_times: Sequence[float]
    ) -> LabelDecodeResult:
        """Decode ``values``; ``default_times`` (epoch s) is used when no time path is set.
        The same result as :meth:`decode_python`, rejection messages included."""
        if not self.format.is_json:
            return through_format(self.format, list(values), default_times, self._decode_json)
        return self._decode_json(values, default_times)

    def _decode_json(
        self, values: Sequence[bytes | None], default_times: Sequence[float]
    ) -> LabelDecodeResult:
        records = values if isinstance(values, list) else list(values)
        numeric = self.spec.type == "numeric"

        def resolve(position: int, raw: bytes | None) -> Row | Rejection:
            found = self.decode_record(position, raw, default_times[position])
            if isinstance(found, Rejection):
                return found
            when, ident, value = found
            if numeric:
                return Row(when, ident, [], [(float(value), False)], [])
            return Row(when, ident, [], [], [(str(value), False)])

        defaults = np.empty(0) if self._time else np.asarray(default_times, np.float64)
        out = self._native.decode(records, defaults, 1, resolve)
        rejections = [Rejection(*r) for r in out.rejections]
        ids = out.ids or []
        if numeric:
            column, _ = out.numeric[0]
            found: list[Value | None] = [None if math.isnan(v) else v for v in column.tolist()]
        else:
            codes, vocabulary, _ = out.categorical[0]
            texts = Categories(codes, vocabulary).values()
            if self.spec.type == "categorical":
                found = [*texts]
            else:
                found = [None if t is None else binary_class(t) for t in texts]
        positions: list[int] = []
        kept: list[int] = []
        labels: list[Value] = []
        for row, position in enumerate(out.positions.tolist()):
            value = found[row]
            if value is None or row >= len(ids) or ids[row] is None:  # the specification says
                rejection = self.decode_record(position, records[position], default_times[position])
                assert isinstance(rejection, Rejection)
                rejections.append(rejection)
                continue
            positions.append(position)
            kept.append(row)
            labels.append(value)
        rejections.sort(key=lambda r: r.position)
        batch = LabelBatch(positions, out.times[kept], [str(ids[row]) for row in kept], labels)
        return LabelDecodeResult(batch, rejections)
