"""Repartition records: slices round-trip column by column, and malformed ones are refused."""

from __future__ import annotations

import pickle
import struct
from dataclasses import replace

import numpy as np
import orjson
import pytest

from detector.chunks import StreamChunk
from detector.columns import Categories
from detector.errors import StateError
from detector.order import Bound, Keys
from detector.slices import PerformanceTape, Slice
from detector.state.codec import encode_state
from detector.state.slice_format import MAGIC, VERSION, decode_slice, encode_slice


def _slice() -> Slice:
    keys = Keys(np.array([5.0]), np.array([3], np.int32), np.array([41]))
    tape = PerformanceTape(
        np.array([10]),
        keys,
        np.zeros(1, bool),
        ["e1"],
        np.zeros(1),
        ["1"],
        np.array([0.9]),
        [["DE"]],
    )
    return Slice(
        rows=np.array([10, 11, 12], dtype=np.int64),
        times=np.array([1.0, 2.0, 3.0]),
        segments={"country": Categories.from_values(["DE", "FR", "DE"])},
        numeric={"x": np.array([1.5, np.nan, -0.0])},
        categorical={"mcc": Categories.from_values(["a", None, "b"])},
        errors={"x": np.array([False, True, False]), "mcc": np.zeros(3, dtype=bool)},
        stream=True,
        schema_samples=[(1, ["f", "g"])],
        performance=tape,
        keys=Keys(np.array([1.0, 2.0, 3.0]), np.array([3, 3, 4], np.int32), np.array([40, 41, 7])),
        bounds=[Bound(3.0, 3, 42), Bound(3.0, 4, 8, at_end=True)],
    )


def _record(header: dict[str, object], body: bytes = b"", version: int = VERSION) -> bytes:
    raw = orjson.dumps(header)
    return struct.pack(">4sBI", MAGIC, version, len(raw)) + raw + body


def _header(**change: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "n": 1,
        "segments": [],
        "numeric": ["x"],
        "categorical": [],
        "errors": ["x"],
        "stream": False,
        "samples": [],
        "performance": 0,
        "bounds": [],
    }
    return {**fields, **change}


# rows, times, partition times, offsets, x, sources, x's type error
ONE_ROW = b"".join(
    [
        np.int64(7).tobytes(),
        np.float64(1.0).tobytes(),
        np.float64(1.0).tobytes(),
        np.int64(7).tobytes(),
        np.float64(2.0).tobytes(),
        np.int32(0).tobytes(),
        b"\0",
    ]
)
CODES_ROW = ONE_ROW[:32] + np.int32(0).tobytes()  # no fields: rows, times, keys


def test_a_slice_round_trips_every_column() -> None:
    """Rows, times, keys, values (NaN and -0.0 bit for bit), texts, flags, samples, bounds and
    the embedded performance tape come back equal."""
    part = _slice()
    back = decode_slice(encode_slice(part))
    assert back.rows.tolist() == [10, 11, 12] and back.times.tolist() == [1.0, 2.0, 3.0]
    assert back.numeric["x"].tobytes() == part.numeric["x"].tobytes()
    assert back.segments == part.segments and back.categorical == part.categorical
    assert {k: v.tolist() for k, v in back.errors.items()} == {
        k: v.tolist() for k, v in part.errors.items()
    }
    assert back.stream and back.schema_samples == [(1, ["f", "g"])]
    assert back.keys.offsets.tolist() == [40, 41, 7] and back.keys.sources.tolist() == [3, 3, 4]
    assert back.bounds == part.bounds
    assert isinstance(back.performance, PerformanceTape)
    assert back.performance.ids == ["e1"] and back.performance.keys.offsets.tolist() == [41]


def test_arrays_are_read_in_place_aligned() -> None:
    """Every array is a view of the record's bytes at an aligned offset: no copy per field."""
    back = decode_slice(encode_slice(_slice()))
    arrays = [back.rows, back.times, back.numeric["x"], back.segments["country"].codes]
    for array in [*arrays, back.keys.ptimes, back.keys.sources, back.keys.offsets]:
        assert array.base is not None and array.flags.aligned


def test_a_slice_without_fields_or_rows_round_trips() -> None:
    """A partition that only owns the stream unit, and an empty labels-only slice."""
    empty = Slice(np.empty(0, np.int64), np.empty(0), {}, {}, {}, {}, stream=False)
    back = decode_slice(encode_slice(empty))
    assert back.size == 0 and not back.stream and back.performance is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"XXXX\x01\x00\x00\x00\x02{}",
        _record(_header(), ONE_ROW, version=99),
        struct.pack(">4sBI", MAGIC, VERSION, 1000) + b"{}",
        struct.pack(">4sBI", MAGIC, VERSION, 3) + b"{{{",
        _record(_header(n=5), ONE_ROW),  # arrays shorter than the header says
        _record(_header(), ONE_ROW + b"\0"),  # a byte too many
        _record(_header(n=-1)),
        _record(_header(numeric=[1]), ONE_ROW),
        _record(_header(errors=[]), ONE_ROW[:-1]),  # a field without its type errors
        _record(_header(stream="yes"), ONE_ROW),
        _record(_header(samples=[[5, ["a"]]]), ONE_ROW),  # a sample past the rows
        _record(_header(), ONE_ROW[:-1] + b"\x02"),  # a flag that is not 0 or 1
        _record(  # a code past its vocabulary
            _header(numeric=[], errors=[], segments=[["c", ["DE"]]]),
            CODES_ROW + np.int32(1).tobytes(),
        ),
        _record(  # a missing segment value (segments are never missing)
            _header(numeric=[], errors=[], segments=[["c", ["DE"]]]),
            CODES_ROW + np.int32(-1).tobytes(),
        ),
        _record(_header(bounds=[[0, 1.0, -1, False]]), ONE_ROW),  # a negative offset
        _record(_header(bounds=[["0", 1.0, 1, False]]), ONE_ROW),
        _record(_header(performance=10), ONE_ROW + pickle.dumps(object)[:10]),
    ],
)
def test_malformed_records_raise_state_error(data: bytes) -> None:
    """Wrong magic, version, lengths, types, codes, flags or an undecodable blob: StateError."""
    with pytest.raises(StateError):
        decode_slice(data)


def test_only_a_performance_tape_may_be_embedded() -> None:
    """The embedded blob must hold a performance tape, not any registered object."""
    blob = encode_state(StreamChunk(np.arange(3), np.zeros(3), {}, []))
    with pytest.raises(StateError, match="performance tape"):
        decode_slice(_record(_header(performance=len(blob)), ONE_ROW + blob))


def test_class_probabilities_ride_the_tape_through_cuts_and_records() -> None:
    """A tape's class probabilities survive take, concat (a part without them gets NaN rows),
    key order and a repartition record; a tape whose probabilities do not have one float row
    per tape row is refused."""
    part = _slice()
    assert part.performance is not None
    tape = replace(part.performance, probabilities=np.array([[0.2, 0.3, 0.5]]))
    joined = PerformanceTape.concat([tape, part.performance, tape.take(slice(0, 1))])
    assert joined.probabilities is not None and joined.probabilities.shape == (3, 3)
    assert np.isnan(joined.probabilities[1]).all()
    assert joined.take(np.array([2, 0])).probabilities.tolist() == [[0.2, 0.3, 0.5]] * 2  # type: ignore[union-attr]
    back = decode_slice(encode_slice(replace(part, performance=tape)))
    assert back.performance is not None and back.performance.probabilities is not None
    assert back.performance.probabilities.tolist() == [[0.2, 0.3, 0.5]]
    assert decode_slice(encode_slice(part)).performance.probabilities is None  # type: ignore[union-attr]
    for bad in (np.array([0.2, 0.8]), np.zeros((2, 2)), np.array([[1, 2]])):
        with pytest.raises(StateError, match="performance tape"):
            decode_slice(encode_slice(replace(part, performance=replace(tape, probabilities=bad))))
