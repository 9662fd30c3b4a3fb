"""The repartition record format: a batch's series chunks as a few flat arrays.

Series chunks are most of what stage one sends (one per series per slice), and the general
state codec spends most of its time on per-object bookkeeping. Here a record is a small JSON
header listing each series chunk (key, order, length, kind and, for categorical ones, the
values) followed by four flat arrays of all chunks' rows, times, type-error flags and numeric
values. The stream and performance chunks, a handful per record, go through
:func:`detector.state.codec.encode_state` as an embedded blob.

Like the state codec it is versioned and reads only data: lengths are checked against the
buffer, dtypes are fixed by the format, never named by the payload.

>>> import numpy as np
>>> from detector.chunks import SeriesChunk
>>> chunk = SeriesChunk(("x", None, None), 1, np.arange(3), np.zeros(3), np.zeros(3, bool),
...                     numeric=np.array([1.0, 2.0, 3.0]))
>>> decode_chunks(encode_chunks([chunk]))[0].numeric.tolist()
[1.0, 2.0, 3.0]
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from detector.chunks import Chunk, SeriesChunk
from detector.errors import StateError
from detector.state.codec import decode_state, encode_state

MAGIC = b"KDDC"
VERSION = 1
_PREFIX = struct.Struct(">4sBI")  # magic, version, header length
_ROW, _TIME, _FLAG, _VALUE = np.dtype("<i8"), np.dtype("<f8"), np.dtype("u1"), np.dtype("<f8")


def encode_chunks(chunks: Sequence[Chunk]) -> bytes:
    """One record's bytes for ``chunks`` (any mix of kinds; order within a kind is kept)."""
    series = [c for c in chunks if isinstance(c, SeriesChunk)]
    others = [c for c in chunks if not isinstance(c, SeriesChunk)]
    entries, categories = [], []
    for c in series:
        kind = "n" if c.numeric is not None else "c"
        entries.append([*c.key, c.order, len(c.rows), kind])
        if c.categories is not None:
            categories.append(c.categories)
    blob = encode_state(others) if others else b""
    header = orjson.dumps({"series": entries, "categories": categories, "other": len(blob)})
    parts = [
        _PREFIX.pack(MAGIC, VERSION, len(header)),
        header,
        _concat([c.rows for c in series], _ROW),
        _concat([c.times for c in series], _TIME),
        _concat([c.errors for c in series], _FLAG),
        _concat([c.numeric for c in series if c.numeric is not None], _VALUE),
        blob,
    ]
    return b"".join(parts)


def _concat(arrays: list[Any], dtype: np.dtype[Any]) -> bytes:
    if not arrays:
        return b""
    return np.concatenate(arrays).astype(dtype, copy=False).tobytes()


def decode_chunks(data: bytes) -> list[Chunk]:
    """The chunks of a record; :class:`StateError` for anything that is not a valid one."""
    if len(data) < _PREFIX.size:
        raise StateError("not a chunk record: too short")
    magic, version, size = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise StateError("not a chunk record: bad magic")
    if version != VERSION:
        raise StateError(f"chunk record version {version}, this worker reads {VERSION}")
    start = _PREFIX.size
    if start + size > len(data):
        raise StateError("truncated chunk record header")
    try:
        header = orjson.loads(data[start : start + size])
        entries, categories, other = header["series"], header["categories"], header["other"]
        if not (isinstance(entries, list) and isinstance(categories, list)):
            raise TypeError("series and categories must be lists")
        keys = [_entry(e) for e in entries]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise StateError(f"bad chunk record header: {exc}") from exc
    total = sum(n for *_, n, _ in keys)
    numeric_total = sum(n for *_, n, kind in keys if kind == "n")
    sizes = [total * 8, total * 8, total, numeric_total * 8, other]
    if not isinstance(other, int) or other < 0 or start + size + sum(sizes) != len(data):
        raise StateError("chunk record arrays do not match the buffer length")
    offset = start + size
    arrays: list[np.ndarray] = []
    dtypes: tuple[np.dtype[Any], ...] = (_ROW, _TIME, _FLAG, _VALUE)
    for nbytes, dtype in zip(sizes[:4], dtypes, strict=True):
        arrays.append(np.frombuffer(data, dtype, nbytes // dtype.itemsize, offset))
        offset += nbytes
    rows, times, flags, values = arrays
    chunks: list[Chunk] = decode_state(data[offset:]) if other else []
    if not isinstance(chunks, list) or any(isinstance(c, SeriesChunk) for c in chunks):
        raise StateError("the embedded chunks must be a list of stream or performance chunks")
    texts = iter(categories)
    at = value_at = 0
    for feature, dimension, value, order, n, kind in keys:
        part = slice(at, at + n)
        chunk = SeriesChunk(
            (feature, dimension, value), order, rows[part], times[part], flags[part].astype(bool)
        )
        if kind == "n":
            chunk.numeric = values[value_at : value_at + n]
            value_at += n
        else:
            chunk.categories = _categories(next(texts, None), n)
        chunks.append(chunk)
        at += n
    return chunks


def _entry(entry: Any) -> tuple[str, str | None, str | None, int, int, str]:
    feature, dimension, value, order, n, kind = entry
    if not isinstance(feature, str) or not all(
        v is None or isinstance(v, str) for v in (dimension, value)
    ):
        raise TypeError("a series key is [feature, dimension, value] strings")
    if not (isinstance(order, int) and isinstance(n, int) and n >= 0 and kind in ("n", "c")):
        raise TypeError("order and length must be integers, kind 'n' or 'c'")
    return feature, dimension, value, order, n, kind


def _categories(values: Any, n: int) -> list[str | None]:
    if not isinstance(values, list) or len(values) != n:
        raise StateError("categorical chunk values do not match its length")
    if not all(v is None or isinstance(v, str) for v in values):
        raise StateError("categories must be strings or null")
    return values
