"""Repartition records: mixed chunks round-trip; malformed or hostile records raise StateError."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import orjson
import pytest

from detector.chunks import SeriesChunk, StreamChunk
from detector.errors import StateError
from detector.state.chunk_format import MAGIC, VERSION, decode_chunks, encode_chunks
from detector.state.codec import encode_state


def _numeric() -> SeriesChunk:
    return SeriesChunk(
        ("x", "c", "a"),
        2,
        np.arange(4),
        np.linspace(0, 3, 4),
        np.array([0, 1, 0, 0], bool),
        numeric=np.array([1.5, np.nan, 2.0, -1.0]),
    )


def _categorical() -> SeriesChunk:
    return SeriesChunk(
        ("k", None, None),
        3,
        np.arange(3) + 10,
        np.zeros(3),
        np.zeros(3, bool),
        categories=["a", None, "b"],
    )


def _stream() -> StreamChunk:
    return StreamChunk(np.arange(2), np.ones(2), {"c": ["a", "b"]}, [(1, ["f", "g"])])


def _record(header: object, body: bytes = b"", version: int = VERSION) -> bytes:
    raw = orjson.dumps(header)
    return struct.pack(">4sBI", MAGIC, version, len(raw)) + raw + body


def test_mixed_chunks_round_trip() -> None:
    """Numeric, categorical and stream chunks come back equal (NaN and nulls included)."""
    back = decode_chunks(encode_chunks([_stream(), _numeric(), _categorical()]))
    stream, numeric, categorical = back
    assert isinstance(stream, StreamChunk) and stream.schema_samples == [(1, ["f", "g"])]
    assert isinstance(numeric, SeriesChunk) and numeric.key == ("x", "c", "a")
    assert numeric.numeric is not None and np.array_equal(
        numeric.numeric, _numeric().numeric, equal_nan=True
    )
    assert numeric.errors.tolist() == [False, True, False, False] and numeric.order == 2
    assert isinstance(categorical, SeriesChunk) and categorical.categories == ["a", None, "b"]
    assert categorical.rows.tolist() == [10, 11, 12]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"XXXX\x01\x00\x00\x00\x02{}",
        _record({"series": [], "categories": [], "other": 0}, version=99),
        struct.pack(">4sBI", MAGIC, VERSION, 1000) + b"{}",
        struct.pack(">4sBI", MAGIC, VERSION, 3) + b"{{{",
        _record({"series": [["x", None, None, 1, 5, "n"]], "categories": [], "other": 0}),
        _record(
            {"series": [["x", None, None, 1, 1, "c"]], "categories": [[1]], "other": 0},
            b"\x00" * 17,
        ),
        _record({"series": [[{"a": 1}, None, None, 1, 0, "n"]], "categories": [], "other": 0}),
        _record({"series": [["x", None, None, 1, -1, "n"]], "categories": [], "other": 0}),
        _record({"series": "x", "categories": [], "other": 0}),
        _record({"series": [], "categories": [], "other": 10}, pickle.dumps(object)[:10]),
    ],
)
def test_malformed_records_raise_state_error(data: bytes) -> None:
    """Wrong magic, version, lengths, types or an undecodable blob: StateError, nothing else."""
    with pytest.raises(StateError):
        decode_chunks(data)


def test_a_series_chunk_smuggled_into_the_blob_is_refused() -> None:
    """Series chunks must come through the flat arrays, where lengths are checked: the state
    codec does not even know their class (a stream chunk renamed to one here)."""
    stream = StreamChunk(np.arange(3), np.zeros(3), {}, [])
    blob = encode_state([stream]).replace(b"chunks.StreamChunk", b"chunks.SeriesChunk")
    assert b"SeriesChunk" in blob
    with pytest.raises(StateError, match="SeriesChunk"):
        decode_chunks(_record({"series": [], "categories": [], "other": len(blob)}, blob))
