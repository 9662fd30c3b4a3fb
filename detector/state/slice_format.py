"""The repartition record format: one slice of a micro-batch as flat arrays.

A record holds a :class:`~detector.slices.Slice`: a small JSON header (row count, the field
names, each text column's vocabulary, the schema samples, the sender's bounds, the size of an
embedded performance tape) padded to 8 bytes, then the arrays: rows, times, the keys'
partition times and offsets, each numeric column, the keys' sources, each text column's codes,
each field's type-error flags (widest first), so every array starts aligned and decodes
without a copy. A
performance tape, when the slice carries one, goes through
:func:`detector.state.codec.encode_state` as an embedded blob.

Like the state codec it is versioned and reads only data: lengths are checked against the
buffer, dtypes are fixed by the format, never named by the payload, and every code must point
into its vocabulary.

>>> import numpy as np
>>> from detector.slices import Slice
>>> from detector.columns import Categories
>>> part = Slice(np.arange(2), np.zeros(2), {"c": Categories.from_values(["DE", "FR"])},
...              {"x": np.array([1.5, np.nan])}, {}, {"x": np.array([False, True])})
>>> back = decode_slice(encode_slice(part))
>>> back.numeric["x"].tolist(), back.segments["c"].values(), back.errors["x"].tolist()
([1.5, nan], ['DE', 'FR'], [False, True])
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from detector.columns import MISSING, Categories
from detector.errors import StateError
from detector.order import NO_TIME, Bound, Keys
from detector.slices import PerformanceTape, Slice
from detector.state.codec import decode_state, encode_state

MAGIC = b"KDDS"
VERSION = 2  # 2: keys (partition time, source, offset) per row, and the sender's bounds
_PREFIX = struct.Struct(">4sBI")  # magic, version, header length (padding included)
_I8, _F8, _I4, _U1 = np.dtype("<i8"), np.dtype("<f8"), np.dtype("<i4"), np.dtype("u1")


def encode_slice(part: Slice) -> bytes:
    """One record's bytes for ``part``."""
    blob = encode_state(part.performance) if part.performance is not None else b""
    header = orjson.dumps(
        {
            "n": part.size,
            "segments": [[name, c.vocabulary] for name, c in part.segments.items()],
            "numeric": list(part.numeric),
            "categorical": [[name, c.vocabulary] for name, c in part.categorical.items()],
            "errors": list(part.errors),
            "stream": part.stream,
            "samples": part.schema_samples,
            "performance": len(blob),
            # No partition time yet (-inf) is null: JSON has no infinities.
            "bounds": [
                [b.source, b.ptime if b.ptime != NO_TIME else None, b.offset, b.at_end]
                for b in part.bounds
            ],
        }
    )
    header += b" " * (-(_PREFIX.size + len(header)) % 8)  # arrays start 8-byte aligned
    arrays: list[tuple[np.ndarray, np.dtype[Any]]] = [
        (part.rows, _I8),
        (part.times, _F8),
        (part.keys.ptimes, _F8),
        (part.keys.offsets, _I8),
        *((v, _F8) for v in part.numeric.values()),
        (part.keys.sources, _I4),
        *((c.codes, _I4) for c in part.segments.values()),
        *((c.codes, _I4) for c in part.categorical.values()),
        *((e, _U1) for e in part.errors.values()),
    ]
    body = [np.ascontiguousarray(a, dtype=dtype).tobytes() for a, dtype in arrays]
    return b"".join([_PREFIX.pack(MAGIC, VERSION, len(header)), header, *body, blob])


def decode_slice(data: bytes) -> Slice:
    """The slice of a record; :class:`StateError` for anything that is not a valid one."""
    if len(data) < _PREFIX.size:
        raise StateError("not a repartition record: too short")
    magic, version, size = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise StateError("not a repartition record: bad magic")
    if version != VERSION:
        raise StateError(f"repartition record version {version}, this worker reads {VERSION}")
    start = _PREFIX.size
    if start + size > len(data):
        raise StateError("truncated repartition record header")
    try:
        header = orjson.loads(data[start : start + size])
        n, blob = _count(header["n"]), _count(header["performance"])
        segments = [_vocabulary(entry) for entry in header["segments"]]
        numeric = [_name(name) for name in header["numeric"]]
        categorical = [_vocabulary(entry) for entry in header["categorical"]]
        errors = [_name(name) for name in header["errors"]]
        samples = [_sample(sample, n) for sample in header["samples"]]
        stream = header["stream"]
        if not isinstance(stream, bool):
            raise TypeError("stream must be true or false")
        bounds = [_bound(entry) for entry in header["bounds"]]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise StateError(f"bad repartition record header: {exc}") from exc
    reader = _Arrays(data, start + size, n)
    rows, times = reader.take(_I8), reader.take(_F8)
    ptimes, offsets = reader.take(_F8), reader.take(_I8)
    numeric_columns = {name: reader.take(_F8) for name in numeric}
    keys = Keys(ptimes, reader.take(_I4), offsets)
    segment_columns = {
        name: _codes(reader.take(_I4), vocabulary, name, missing=False)
        for name, vocabulary in segments
    }
    categorical_columns = {
        name: _codes(reader.take(_I4), vocabulary, name, missing=True)
        for name, vocabulary in categorical
    }
    error_columns = {name: _flags(reader.take(_U1), name) for name in errors}
    if reader.offset + blob != len(data):
        raise StateError("repartition record arrays do not match the buffer length")
    performance = decode_state(data[reader.offset :]) if blob else None
    if performance is not None and not _valid_tape(performance, len(segments)):
        raise StateError("the embedded chunk must be a performance tape")
    if set(error_columns) != set(numeric_columns) | set(categorical_columns):
        raise StateError("every field of a repartition record needs its type errors")
    return Slice(
        rows,
        times,
        segment_columns,
        numeric_columns,
        categorical_columns,
        error_columns,
        stream,
        samples,
        performance,
        keys,
        bounds,
    )


class _Arrays:
    """Consecutive arrays of ``n`` items in a buffer, each checked to fit."""

    def __init__(self, data: bytes, offset: int, n: int) -> None:
        self.data, self.offset, self.n = data, offset, n

    def take(self, dtype: np.dtype[Any]) -> np.ndarray:
        end = self.offset + self.n * dtype.itemsize
        if end > len(self.data):
            raise StateError("truncated repartition record arrays")
        array = np.frombuffer(self.data, dtype, self.n, self.offset)
        self.offset = end
        return array


def _bound(entry: Any) -> Bound:
    source, ptime, offset, at_end = entry
    if not (
        type(source) is int
        and (ptime is None or type(ptime) in (int, float))
        and type(offset) is int
        and type(at_end) is bool
        and 0 <= offset < 2**63
    ):
        raise TypeError("a bound is [source, partition time, offset, at end]")
    return Bound(NO_TIME if ptime is None else float(ptime), source, offset, at_end)


def _valid_tape(tape: Any, dimensions: int) -> bool:
    """A tape whose columns all have one entry per row (class probabilities: a float row)."""
    if not isinstance(tape, PerformanceTape) or not isinstance(tape.keys, Keys):
        return False
    n = tape.size
    arrays = [tape.is_label, tape.times, tape.scores, *vars(tape.keys).values()]
    lists = [tape.ids, tape.values, *tape.segments]
    probabilities = tape.probabilities
    return (
        (
            probabilities is None
            or (
                isinstance(probabilities, np.ndarray)
                and probabilities.dtype == np.float64
                and probabilities.ndim == 2
                and probabilities.shape[0] == n
                and probabilities.shape[1] >= 1
            )
        )
        and all(isinstance(a, np.ndarray) and a.shape == (n,) for a in arrays)
        and all(isinstance(v, list) and len(v) == n for v in lists)
        and len(tape.segments) == dimensions
    )


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("counts must be non-negative integers")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("field names must be strings")
    return value


def _vocabulary(entry: Any) -> tuple[str, list[str]]:
    name, vocabulary = entry
    if not isinstance(vocabulary, list) or not all(isinstance(v, str) for v in vocabulary):
        raise TypeError("a vocabulary is a list of strings")
    return _name(name), vocabulary


def _sample(sample: Any, n: int) -> tuple[int, list[str]]:
    index, paths = sample
    if not (isinstance(index, int) and 0 <= index < n and isinstance(paths, list)):
        raise TypeError("a schema sample is [row index, [paths]]")
    return index, [_name(p) for p in paths]


def _codes(codes: np.ndarray, vocabulary: list[str], name: str, missing: bool) -> Categories:
    low = MISSING if missing else 0
    if len(codes) and (int(codes.min()) < low or int(codes.max()) >= len(vocabulary)):
        raise StateError(f"codes of {name!r} outside its vocabulary")
    return Categories(codes, vocabulary)


def _flags(flags: np.ndarray, name: str) -> np.ndarray:
    if len(flags) and int(flags.max()) > 1:
        raise StateError(f"type errors of {name!r} are not 0 or 1")
    return flags.view(bool)
