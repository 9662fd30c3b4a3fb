"""Decoding raw records: field paths, time formats, rejections with reasons, type errors."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from detector.config import parse_config
from detector.events import MISSING_SEGMENT, Decoder, compile_path, parse_time


@pytest.fixture
def decoder() -> Decoder:
    return Decoder(
        parse_config(
            {
                "model": "m",
                "topics": {"events": "e", "alerts": "a", "dead_letter": "d"},
                "event": {"id": "meta.id", "time": "meta.ts", "max_bytes": 300},
                "segments": [{"name": "country", "path": "seg.0"}],
                "features": [
                    {"name": "amount", "path": "f.amount", "type": "numeric"},
                    {"name": "mcc", "path": "f.mcc", "type": "categorical"},
                ],
            }
        )
    )


def record(**fields: object) -> bytes:
    event = {"meta": {"id": 7, "ts": "2026-01-01T00:00:00Z"}, "seg": ["DE"], "f": fields}
    return orjson.dumps(event)


def test_paths_extract_values_by_key_and_list_index(decoder: Decoder) -> None:
    """Dotted paths reach nested keys and list items; ids become strings."""
    result = decoder.decode([record(amount=12.5, mcc=5411)], [0.0])
    batch = result.batch
    assert result.rejections == []
    assert batch.ids == ["7"]
    assert batch.segments["country"].values() == ["DE"]
    assert batch.numeric["amount"].tolist() == [12.5]
    assert batch.categorical["mcc"].values() == ["5411"]
    assert batch.times.tolist() == [1767225600.0]


def test_missing_and_mistyped_values_are_counted_not_rejected(decoder: Decoder) -> None:
    """Absent values are NaN/None; strings in numeric fields are type errors; events stay."""
    values = [record(), record(amount="12.5", mcc={"a": 1}), record(amount=True, mcc=None)]
    result = decoder.decode(values, [0.0] * 3)
    assert result.rejections == []
    assert np.isnan(result.batch.numeric["amount"]).all()
    assert result.batch.type_errors["amount"].tolist() == [False, True, True]
    assert result.batch.categorical["mcc"].values() == [None, None, None]
    assert result.batch.type_errors["mcc"].tolist() == [False, True, False]


def test_rejections_carry_reason_and_position(decoder: Decoder) -> None:
    """Garbage is rejected with a reason code; good records around it are kept in order."""
    big = orjson.dumps({"meta": {"ts": 1}, "pad": "x" * 400})
    values = [
        b"\xff\xfe not json",
        record(amount=1.0),
        b"[1, 2, 3]",
        b'"a string"',
        big,
        orjson.dumps({"meta": {"ts": "yesterday"}}),
        orjson.dumps({"meta": {"ts": "2026-01-01T00:00:00"}}),  # no offset: ambiguous
        None,
        record(amount=2.0),
    ]
    result = decoder.decode(values, [0.0] * len(values))
    reasons = [(r.position, r.reason) for r in result.rejections]
    assert reasons == [
        (0, "not_json"),
        (2, "not_object"),
        (3, "not_object"),
        (4, "too_large"),
        (5, "bad_time"),
        (6, "bad_time"),
        (7, "not_json"),
    ]
    assert result.batch.positions == [1, 8]
    assert result.batch.numeric["amount"].tolist() == [1.0, 2.0]
    assert "yesterday" in result.rejections[4].message


def test_missing_segment_value_gets_its_own_label(decoder: Decoder) -> None:
    """An event without the segment field is kept and labelled __missing__."""
    event = orjson.dumps({"meta": {"ts": 0}, "f": {"amount": 1}})
    segments = decoder.decode([event], [0.0]).batch.segments
    assert segments["country"].values() == [MISSING_SEGMENT]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-01T01:00:00+01:00", 1767225600.0),
        ("2026-01-01T00:00:00.250Z", 1767225600.25),
        (1767225600, 1767225600.0),
        (1767225600.5, 1767225600.5),
        (1767225600000, 1767225600.0),
        (True, None),
        (None, None),
        ("not a time", None),
        (math.inf, None),
    ],
)
def test_parse_time_formats(raw: object, expected: float | None) -> None:
    """RFC 3339 with offset, epoch seconds and epoch millis are accepted; others are not."""
    assert parse_time(raw) == expected


def test_default_time_used_without_time_path() -> None:
    """Without event.time, the caller's default time (Kafka timestamp) is used."""
    config = parse_config(
        {
            "model": "m",
            "topics": {"events": "e", "alerts": "a", "dead_letter": "d"},
            "features": [{"name": "x", "path": "x", "type": "numeric"}],
        }
    )
    result = Decoder(config).decode([b'{"x": 1}', b'{"x": 2}'], [10.0, 11.0])
    assert result.batch.times.tolist() == [10.0, 11.0]


def test_only_ascii_digits_index_lists() -> None:
    """A path step of other Unicode digits ("²", "٣") is an object key, not a list index (it
    used to crash the decoder, or read list item 3)."""
    assert compile_path("a.0.b") == ("a", 0, "b")
    assert compile_path("a.².٣") == ("a", "²", "٣")


RANGE = "0 <= t < 7258118400"


@pytest.mark.parametrize(
    ("ts", "seconds"),
    [
        (b"1e300", "1e+297"),
        (b"1e18", "1000000000000000.0"),
        (b"-1", "-1.0"),
        (b"7258118400", "7258118400.0"),
        (b"7258118400000", "7258118400.0"),
        (b"1" + b"0" * 30, "1e+27"),
        (b'"9999-12-31T23:59:59-01:00"', "253402304399.0"),
        (b'"0001-01-01T00:00:00Z"', "-62135596800.0"),
        (b'"1969-12-31T23:59:59Z"', "-1.0"),
        (b'"2200-01-01T00:00:00Z"', "7258118400.0"),
    ],
)
def test_event_times_outside_the_range_are_bad_time(
    decoder: Decoder, ts: bytes, seconds: str
) -> None:
    """A time that parses but is outside 1970 up to 2200 is bad_time, naming value and range."""
    raw = b'{"meta": {"ts": ' + ts + b'}, "f": {"amount": 1}}'
    result = decoder.decode([raw, record(amount=2.0)], [0.0, 0.0])
    assert result.batch.positions == [1]
    [rejection] = result.rejections
    assert (rejection.position, rejection.reason) == (0, "bad_time")
    assert rejection.message.startswith(f"meta.ts={orjson.loads(ts)!r} is {seconds} s, outside")
    assert RANGE in rejection.message and "2200-01-01T00:00:00Z" in rejection.message
    assert len(rejection.message) <= 500
    assert decoder.decode_python([raw], [0.0]).rejections == [rejection]


@pytest.mark.parametrize("ts", ["NaN", "Infinity", "-Infinity", "nan", "inf", "1e400"])
def test_non_finite_time_texts_are_bad_time(decoder: Decoder, ts: str) -> None:
    """NaN- and infinity-like texts are not times: bad_time."""
    raw = orjson.dumps({"meta": {"ts": ts}})
    [rejection] = decoder.decode([raw], [0.0]).rejections
    assert rejection.reason == "bad_time"
    assert rejection.message == f"meta.ts={ts!r} is not an RFC 3339 or epoch time"


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (b"0", 0.0),
        (b"-0.0", -0.0),
        (b"7258118399.999", 7258118399.999),
        (b"7258118399999", 7258118399.999),
        (b'"1970-01-01T00:00:00Z"', 0.0),
        (b'"1970-01-01T01:00:00+01:00"', 0.0),
        (b'"2199-12-31T23:59:59.999999Z"', 7258118399.999999),
    ],
)
def test_range_ends_inside_are_accepted(decoder: Decoder, ts: bytes, expected: float) -> None:
    """The first instant of 1970 and the last before 2200 are valid event times."""
    raw = b'{"meta": {"ts": ' + ts + b"}}"
    result = decoder.decode([raw], [0.0])
    assert result.rejections == []
    assert result.batch.times.tolist() == [expected]


def test_default_times_outside_the_range_are_bad_time() -> None:
    """Without event.time, a record timestamp outside the range is bad_time too."""
    config = parse_config(
        {
            "model": "m",
            "topics": {"events": "e", "alerts": "a", "dead_letter": "d"},
            "features": [{"name": "x", "path": "x", "type": "numeric"}],
        }
    )
    defaults = [1.0, -0.001, 7258118400.0, math.nan, 1e18, 0.0, 7258118399.999, -math.inf]
    values = [b'{"x": 1}'] * len(defaults)
    for times in (defaults, np.asarray(defaults)):
        result = Decoder(config).decode(values, times)
        assert result.batch.times.tolist() == [1.0, 0.0, 7258118399.999]
        assert [(r.position, r.reason) for r in result.rejections] == [
            (1, "bad_time"),
            (2, "bad_time"),
            (3, "bad_time"),
            (4, "bad_time"),
            (7, "bad_time"),
        ]
        assert result.rejections[0].message == (
            f"record timestamp -0.001 s is outside the event time range {RANGE} "
            "(1970-01-01T00:00:00Z up to, not including, 2200-01-01T00:00:00Z)"
        )
        assert "record timestamp nan s" in result.rejections[2].message
