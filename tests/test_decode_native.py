"""The native batch decoder (`Decoder.decode`) against the Python one (`Decoder.decode_python`):
the same EventBatch, rejections and accepted count for any input, from real events to garbage."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pytest

from bench.workload import detector_config, generate
from detector.columns import Categories
from detector.config import parse_config
from detector.events import Decoder, DecodeResult, Row
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

TOPICS = {"events": "e", "alerts": "a", "dead_letter": "d"}

# Paths of every shape: list indexes (digit steps), a path through another path's value, one
# value read twice (numeric and categorical), a non-ASCII key.
FUZZ_CONFIG: dict[str, Any] = {
    "model": "m",
    "topics": TOPICS,
    "event": {"id": "meta.id", "time": "meta.ts", "max_bytes": 6000},
    "segments": [
        {"name": "country", "path": "seg.country"},
        {"name": "tag", "path": "tags.0"},
        {"name": "region", "path": "seg.list.1.name"},
    ],
    "features": [
        {"name": "amount", "path": "f.amount", "type": "numeric"},
        {"name": "third", "path": "f.arr.2", "type": "numeric"},
        {"name": "deep", "path": "deep.a.b.c", "type": "numeric"},
        {"name": "mcc", "path": "f.mcc", "type": "categorical"},
        {"name": "deep_text", "path": "deep.a.b.c", "type": "categorical"},
        {"name": "kind", "path": "tags.0.kind", "type": "categorical"},
        {"name": "size", "path": "größe", "type": "categorical"},
    ],
}
# No id or time path: default times, ids all None.
PLAIN_CONFIG: dict[str, Any] = {
    "model": "m",
    "topics": TOPICS,
    "event": {"max_bytes": 6000},
    "segments": [{"name": "country", "path": "seg.country"}],
    "features": [
        {"name": "amount", "path": "f.amount", "type": "numeric"},
        {"name": "mcc", "path": "f.mcc", "type": "categorical"},
    ],
}


def assert_categories_equal(got: Categories, want: Categories, what: str) -> None:
    assert got.codes.dtype == np.int32, what
    assert got.codes.tolist() == want.codes.tolist(), what
    assert got.vocabulary == want.vocabulary, what
    assert got.values() == want.values(), what


def assert_floats_equal(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Bitwise, NaN equal to NaN (-0.0 is not 0.0)."""
    assert got.dtype == want.dtype == np.float64, what
    assert np.isnan(got).tolist() == np.isnan(want).tolist(), what
    keep = ~np.isnan(want)
    assert got[keep].view(np.uint64).tolist() == want[keep].view(np.uint64).tolist(), what


def assert_same(got: DecodeResult, want: DecodeResult) -> None:
    g, w = got.batch, want.batch
    assert g.positions == w.positions
    assert_floats_equal(g.times, w.times, "times")
    assert g.ids == w.ids
    assert all(i is None or type(i) is str for i in g.ids)
    assert list(g.segments) == list(w.segments)
    for name in w.segments:
        assert_categories_equal(g.segments[name], w.segments[name], name)
    assert list(g.numeric) == list(w.numeric)
    for name in w.numeric:
        assert_floats_equal(g.numeric[name], w.numeric[name], name)
    assert list(g.type_errors) == list(w.type_errors)
    for name in w.type_errors:
        assert g.type_errors[name].dtype == bool, name
        assert g.type_errors[name].tolist() == w.type_errors[name].tolist(), name
    assert list(g.categorical) == list(w.categorical)
    for name in w.categorical:
        assert_categories_equal(g.categorical[name], w.categorical[name], name)
    assert g.schema_samples == w.schema_samples
    assert got.rejections == want.rejections


def compare(
    config: dict[str, Any], batches: list[list[Any]], times: Callable[[int], float] = float
) -> tuple[Decoder, int]:
    """Decode the batches with both decoders (one instance each); returns the native one and
    how many records it left to the Python rules."""
    native, python = Decoder(parse_config(config)), Decoder(parse_config(config))
    deferred = 0
    spec = native.decode_record

    def counted(position: int, raw: bytes | None, default_time: float) -> Any:
        nonlocal deferred
        deferred += 1
        return spec(position, raw, default_time)

    native.decode_record = counted  # type: ignore[method-assign]
    for values in batches:
        defaults = [times(i) for i in range(len(values))]
        assert_same(native.decode(values, defaults), python.decode_python(values, defaults))
        assert native.accepted == python.accepted
    return native, deferred


def test_synthetic_stream_decodes_natively_and_identically() -> None:
    """Synthetic events (gaps, numbers as strings) decode as in Python, none left to Python."""
    stream = SyntheticStream(missing={"amount": 0.1}, seed=3)
    events = [orjson.dumps(e) for e in stream.events(3000, [Drift("amount", 1500, kind="strings")])]
    _, deferred = compare(config_dict(stream), [events[:1300], events[1300:]])
    assert deferred == 0


def test_bench_workload_decodes_natively_and_identically() -> None:
    """Bench workload events (and empty batches) decode as in Python, all of them natively."""
    config = detector_config("127.0.0.1:9", "g", TOPICS)
    events = list(generate(2000, 5))
    decoder, deferred = compare(config, [events[:700], [], [None], events[700:]])
    assert deferred == 0
    assert decoder.accepted == 2000


# --- the fuzz corpus -------------------------------------------------------------------------


class Raw(str):
    """JSON text written as it is (number literals orjson.dumps would not write, bad escapes)."""


@dataclass
class Obj:
    """A JSON object whose keys may repeat."""

    items: list[tuple[str, Any]]


NUMBERS = [
    "0", "-0", "-0.0", "0.0", "1E5", "1e+5", "-1e-5", "0e999", "1e-400", "4.9e-324",
    "2.2250738585072011e-308", "1.7976931348623157e308", "1e308", "1e400", "-1e400",
    "123456789012345678", "-123456789012345678", "1234567890123456789", "9223372036854775807",
    "-9223372036854775808", "-9223372036854775809", "18446744073709551615",
    "18446744073709551616", "1" + "0" * 310, "1" + "0" * 200, "100000000000", "100000000001",
    "-100000000001", "1767225600", "1767225600000", "1767225600.5", "1767225600000.5",
    "0.1", "0.30000000000000004", "9007199254740993", "9007199254740993.0",
    "1.00000000000000011102230246251565404236316680908203125", "123.456e-7", "5e22", "5e23",
    "0.000001", "1e22", "1e23", "8.98846567431158e307", "0.0e99999999999999999999",
    "1e-99999999999999999999", "1e0000000000000000000000001", "-0e0", "1.5E-0", "9" * 308,
    "9" * 309, "0." + "0" * 400 + "1e400", "1" + "0" * 400 + "e-400",
    "17976931348623158" + "0" * 292 + ".0", "123456789012345678901234567890e-20",
    "-1", "1e300", "1e18", "7258118400", "7258118399.999", "7258118400000", "7258118399999",
    "-0.5", "1" + "0" * 30,
]  # fmt: skip
STRINGS = [
    "", "DE", "5411", "true", "__missing__", "a\"b\\c/d\b\f\n\r\t", "\x00\x1f", "é" * 150,
    "é" * 250, "ü" * 199 + "😀" * 5, "😀" * 260, "x" * 201, "x" * 200, "中文" * 120,
    "\u2028\ufeff", "2026-01-01T00:00:00Z",
]  # fmt: skip
BAD_STRINGS = [
    '"\\ud800"', '"\\udc00"', '"\\ud83d\\ude00"', '"\\ud83dx"', '"\\ud83d\\u0041"', '"\\x"',
    '"\\u12g4"', '"\\u00e9\\u00E9"', '"a\x01b"', '"tab\there"', '"\\/"', '"\\u0000"',
]  # fmt: skip
TIMES = [
    "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.1Z", "2026-01-01T00:00:00.12Z",
    "2026-01-01T00:00:00.123Z", "2026-01-01T00:00:00.1234Z", "2026-01-01T00:00:00.12345Z",
    "2026-01-01T00:00:00.123456Z", "2026-01-01T00:00:00.1234567Z",
    "2026-01-01T00:00:00.123456789Z", "2026-01-01T01:00:00+01:00", "2025-12-31T23:00:00-01:00",
    "2026-01-01T00:00:00-00:00", "2026-06-30T12:34:56.5+05:45", "2024-02-29T23:59:59.999999Z",
    "2023-02-29T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01 00:00:00Z",
    "2026-01-01t00:00:00Z", "2026-01-01T00:00:00z", "2026-01-01T24:00:00Z",
    "2026-01-01T23:59:60Z", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+23:59",
    "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00,5Z", "2026-01-01T00:00:00+0100",
    "2026-01-01", "20260101T000000Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "1600-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "yesterday", "",
    "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-04-31T00:00:00Z",
    "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z", "1969-12-31T23:59:59.999999Z",
    "2199-12-31T23:59:59.999999Z", "2200-01-01T00:00:00Z", "2200-01-01T00:59:59+01:00", "NaN",
    "Infinity", "-inf",
]  # fmt: skip


def random_string(rng: random.Random) -> str:
    alphabet = "abcDE09 _-./\\\"'\n\té€😀中\x00\x7f"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of any type, often one of the edge cases."""
    kind = rng.randrange(12)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice(
            [0, 1, -1, 7, 5411, -(2**40), 2**53 + 1, rng.randrange(-(10**12), 10**12)]
        )
    if kind == 3:
        return Raw(rng.choice(NUMBERS))
    if kind == 4:
        return rng.choice([0.5, -0.0, 1e-7, 123.456, 1e16, math.pi, rng.uniform(-1e6, 1e6)])
    if kind == 5:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 30)))
        return Raw(f"{rng.choice(['', '-'])}{int(digits)}.{digits}e{rng.randrange(-330, 330)}")
    if kind in (6, 7):
        return rng.choice(STRINGS) if kind == 6 else random_string(rng)
    if kind == 8:
        return Raw(rng.choice(BAD_STRINGS))
    if kind == 9 and depth < 3:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    if kind == 10 and depth < 3:
        return Obj([(random_string(rng), random_value(rng, depth + 1)) for _ in range(3)])
    return rng.choice(TIMES)


def encode(value: Any, rng: random.Random, escape: float) -> str:
    """JSON text with random whitespace and, with probability ``escape`` per character,
    ``\\u`` escapes (surrogate pairs beyond the BMP), in keys too."""

    def ws() -> str:
        return rng.choice(["", "", "", " ", "\n", "\t", "\r\n  "])

    def text(s: str) -> str:
        out = []
        for ch in s:
            if ch in '"\\' or ord(ch) < 0x20 or rng.random() < escape:
                if ord(ch) > 0xFFFF:
                    high, low = divmod(ord(ch) - 0x10000, 0x400)
                    out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04X}")
                else:
                    out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'

    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Obj):
        parts = [
            f"{ws()}{text(k)}{ws()}:{ws()}{encode(v, rng, escape)}{ws()}" for k, v in value.items
        ]
        return "{" + ",".join(parts) + ws() + "}"
    if isinstance(value, list):
        return "[" + ",".join(ws() + encode(v, rng, escape) + ws() for v in value) + "]"
    if isinstance(value, str):
        return text(value)
    return orjson.dumps(value).decode()


def base_event(rng: random.Random, i: int) -> Obj:
    return Obj(
        [
            (
                "meta",
                Obj([("id", rng.choice([f"e-{i}", i, f"é-{i}"])), ("ts", rng.choice(TIMES[:14]))]),
            ),
            (
                "seg",
                Obj(
                    [
                        ("country", rng.choice(["DE", "FR", "US", "中国"])),
                        ("list", [Obj([("name", "a")]), Obj([("name", rng.choice(["eu", "us"]))])]),
                    ]
                ),
            ),
            ("tags", [rng.choice(["web", "app", 7, True, "web", "app"]), "z"]),
            (
                "f",
                Obj(
                    [
                        ("amount", rng.choice([rng.randrange(500), round(rng.uniform(0, 500), 2)])),
                        ("arr", [1, 2.5, round(rng.gauss(0, 1), 3)]),
                        ("mcc", rng.choice(["5411", "5812", 5999, True])),
                    ]
                ),
            ),
            ("deep", Obj([("a", Obj([("b", Obj([("c", rng.randrange(100))]))]))])),
            ("größe", rng.choice(["S", "M", "L", None])),
            ("pad", "x" * rng.randrange(0, 40)),
        ]
    )


PATHS = [
    ("meta", "id"), ("meta", "ts"), ("seg", "country"), ("tags", "0"),
    ("seg", "list", "1", "name"), ("f", "amount"), ("f", "arr", "2"), ("deep", "a", "b", "c"),
    ("f", "mcc"), ("tags", "0", "kind"), ("größe",),
]  # fmt: skip


def set_path(event: Obj, path: tuple[str, ...], value: Any, rng: random.Random) -> None:
    """Put ``value`` at ``path``: digit steps make a list or an object keyed by the digits."""
    here: Any = event
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if isinstance(here, list) and step.isdigit():
            while len(here) <= int(step):
                here.append(rng.choice([None, 0, "pad"]))
            if last:
                here[int(step)] = value
            elif not isinstance(here[int(step)], Obj | list):
                here[int(step)] = Obj([])
            here = here[int(step)]
            continue
        if not isinstance(here, Obj):
            return  # a scalar on the way: the path cannot be set
        found = [j for j, (k, _) in enumerate(here.items) if k == step]
        if last:
            if found:
                here.items[found[-1]] = (step, value)
            else:
                here.items.append((step, value))
            return
        if not found:
            nxt = path[i + 1]
            child: Any = [] if nxt.isdigit() and rng.random() < 0.7 else Obj([])
            here.items.append((step, child))
            found = [len(here.items) - 1]
        here = here.items[found[-1]][1]


def objects(value: Any) -> Iterator[Obj]:
    if isinstance(value, Obj):
        yield value
        for _, v in value.items:
            yield from objects(v)
    elif isinstance(value, list):
        for v in value:
            yield from objects(v)


def duplicate(event: Obj, rng: random.Random) -> None:
    """Repeat a key: with another value, or an object copy lacking a field (last wins)."""
    target = rng.choice(list(objects(event)))
    if not target.items:
        return
    key, value = rng.choice(target.items)
    if isinstance(value, Obj) and value.items and rng.random() < 0.6:
        shorter = Obj([kv for kv in value.items if rng.random() < 0.5])
        target.items.append((key, shorter))
    elif rng.random() < 0.5:
        target.items.append((key, random_value(rng)))
    else:
        target.items.insert(0, (key, random_value(rng)))


def nest(depth: int) -> Raw:
    return Raw("[" * depth + "1" + "]" * depth)


class BytesSubclass(bytes):
    """orjson refuses bytes subclasses: not_json."""


def mutate_bytes(raw: bytes, rng: random.Random) -> Any:
    kind = rng.randrange(14)
    if kind == 0:
        return raw[: rng.randrange(len(raw))]
    if kind == 1:
        at = rng.randrange(len(raw))
        return raw[:at] + bytes([rng.randrange(256)]) + raw[at + 1 :]
    if kind == 2:
        return b"\xef\xbb\xbf" + raw
    if kind == 3:
        return raw + rng.choice([b"x", b"}", b"\x00", b" \n\t\r", b",", b"{}", b"\xff", b"\x0c"])
    if kind == 4:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
    if kind == 5:
        return rng.choice([b"[]", b"1", b'"s"', b"null", b"true", b"[{}]", b"-0", b"", b"  "])
    if kind == 6:
        return None
    if kind == 7:
        return raw.replace(b"}", b"", 1) if rng.random() < 0.5 else raw.replace(b",", b",,", 1)
    if kind == 8:
        at = rng.randrange(len(raw))
        return (
            raw[:at] + rng.choice([b"\xc3", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\xe9"]) + raw[at:]
        )
    if kind == 9:
        return rng.choice([bytearray, BytesSubclass])(raw)
    if kind == 10:
        return raw.replace(b":", b" : ", 1).replace(b"true", b"True", 1)
    if kind == 11:
        return raw + b" " * rng.randrange(0, 3)
    if kind == 12:
        return raw.replace(b'"', b"'", 2)
    return raw.replace(b"1", b"01", 1)


def fuzz_records(seed: int, n: int) -> list[Any]:
    """Events with values of every JSON type (and absent fields) at the configured paths,
    duplicate keys and parents, escapes in keys and texts, long multi-byte texts, odd numbers
    and times, deep nesting, oversized records; 15% damaged (truncated, flipped bytes, BOM,
    trailing garbage, bad UTF-8, random bytes, other roots, None, bytearray, bytes subclass)."""
    rng = random.Random(seed)
    records: list[Any] = []
    for i in range(n):
        event = base_event(rng, i)
        for _ in range(rng.choice([0, 1, 1, 2, 3, 5])):
            path = rng.choice(PATHS)
            if rng.random() < 0.15:
                set_path(event, path[:-1], Obj([]), rng)  # the field absent
            else:
                set_path(event, path, random_value(rng), rng)
        if rng.random() < 0.3:
            set_path(event, ("meta", "ts"), rng.choice([*TIMES, Raw(rng.choice(NUMBERS))]), rng)
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            duplicate(event, rng)
        if rng.random() < 0.05:
            event.items.append(("nested", nest(rng.choice([120, 126, 127, 128, 129, 200, 1100]))))
        if rng.random() < 0.03:
            event.items.append(("big", "y" * rng.choice([5900, 6100])))
        raw = encode(event, rng, rng.choice([0.0, 0.0, 0.05, 0.5])).encode()
        records.append(mutate_bytes(raw, rng) if rng.random() < 0.15 else raw)
    return records


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzz_corpus_gives_the_python_result(seed: int) -> None:
    """A seeded corpus of mutated and broken records decodes as in Python, over two batches."""
    records = fuzz_records(seed, 3000)
    decoder, deferred = compare(FUZZ_CONFIG, [records[:1700], records[1700:]])
    assert 0.1 < deferred / len(records) < 0.8  # both paths are exercised
    assert 1000 < decoder.accepted < 2700


def test_fuzz_corpus_without_id_and_time_paths() -> None:
    """The corpus without id and time paths (default times, no ids) decodes as in Python."""
    records = fuzz_records(3, 2000)
    _, deferred = compare(PLAIN_CONFIG, [records[:999], records[999:]], lambda i: 1e9 + i / 7)
    assert deferred < len(records) * 0.5


def test_each_edge_case_alone_at_every_path() -> None:
    """Each edge-case value alone at each configured path decodes as in Python."""
    rng = random.Random(9)
    values: list[Any] = [*(Raw(n) for n in NUMBERS), *STRINGS, *(Raw(s) for s in BAD_STRINGS)]
    values += [*TIMES, None, True, False, [], [1, [2]], Obj([]), Obj([("kind", "x")])]
    records = []
    for path in PATHS:
        for value in values:
            event = base_event(rng, len(records))
            set_path(event, path, value, rng)
            records.append(encode(event, rng, 0.0).encode())
    compare(FUZZ_CONFIG, [records])


def test_duplicate_parent_without_the_field_leaves_it_absent() -> None:
    """A later copy of a parent object that lacks a field wins: the field reads as absent."""
    records = [
        b'{"meta":{"id":1,"ts":0},"f":{"amount":1.5,"mcc":"a"},"f":{"mcc":"b"}}',
        b'{"meta":{"id":1,"ts":0},"f":{"amount":1.5},"f":{"amount":2.5},"f":{"amount":3}}',
        b'{"meta":{"ts":0},"seg":{"list":[0,{"name":"x"}]},"seg":{"list":{"1":{"name":"y"}}}}',
        b'{"meta":{"ts":0},"seg":{"list":[0,{"name":"x"}]},"seg":{"list":[0]}}',
    ]
    decoder = Decoder(parse_config(FUZZ_CONFIG))
    batch = decoder.decode(records, [0.0] * 4).batch
    amount = batch.numeric["amount"].tolist()
    assert math.isnan(amount[0]) and amount[1] == 3.0
    assert batch.categorical["mcc"].values()[:2] == ["b", None]
    assert batch.segments["region"].values()[2:] == ["y", "__missing__"]
    compare(FUZZ_CONFIG, [records])


def test_rows_resolved_in_python_keep_their_position() -> None:
    """Rows resolved in Python keep their positions and first-seen order of their texts."""
    records = [
        b'{"meta":{"ts":0},"f":{"mcc":"a"}}',
        b'{"meta":{"ts":0},"f":{"mcc":1.5}}',
        b'{"meta":{"ts":"2026-01-01T00:00:00+01:00:30"},"f":{"mcc":"b"}}',
        b'{"meta":{"ts":0},"f":{"mcc":"1.5"}}',
    ]
    decoder = Decoder(parse_config(FUZZ_CONFIG))
    seen: list[int] = []
    spec = decoder.decode_record

    def resolve(position: int, raw: bytes | None, default_time: float) -> Row | Any:
        seen.append(position)
        return spec(position, raw, default_time)

    decoder.decode_record = resolve  # type: ignore[method-assign]
    batch = decoder.decode(records, [0.0] * 4).batch
    assert seen == [1, 2]
    assert batch.categorical["mcc"].vocabulary == ["a", "1.5", "b"]
    assert batch.categorical["mcc"].codes.tolist() == [0, 1, 2, 1]
    assert batch.times.tolist() == [0.0, 0.0, 1767222000.0 - 30.0, 0.0]


# --- event times outside 0 <= t < 7258118400 (bad_time) --------------------------------------

OUT_OF_RANGE = [
    b"1e300", b"1e18", b"-1", b"-0.5", b"7258118400", b"7258118400.0", b"7258118400000",
    b"-100000000001", b"1" + b"0" * 30, b"-1" + b"0" * 30, b"99999999999", b"100000000000",
    b'"9999-12-31T23:59:59-01:00"', b'"0001-01-01T00:00:00Z"', b'"1969-12-31T23:59:59Z"',
    b'"1969-12-31T23:59:59.999999Z"', b'"2200-01-01T00:00:00Z"', b'"2200-01-01T00:00:00.000001Z"',
    b'"2300-01-01T00:00:00Z"', b'"NaN"', b'"Infinity"', b'"-Infinity"', b'"nan"', b'"1e300"',
]  # fmt: skip
IN_RANGE = [
    b"0", b"-0", b"-0.0", b"0.0", b"7258118399.999", b"7258118399999", b"100000000001",
    b"1767225600", b'"1970-01-01T00:00:00Z"', b'"1970-01-01T01:00:00+01:00"',
    b'"2199-12-31T23:59:59.999999Z"', b'"2200-01-01T00:59:59+01:00"',
]  # fmt: skip


def timed(ts: bytes, i: int) -> bytes:
    """An event whose other values all decode natively: id ``i``, time literal ``ts``."""
    fields = b'"seg":{"country":"DE"},"f":{"amount":1.5,"mcc":"a"}'
    return b'{"meta":{"id":%d,"ts":%s},%s}' % (i, ts, fields)


def test_event_times_out_of_range_give_the_python_rejections() -> None:
    """Times outside the range are the Python bad_time rejections; the in-range ends stay native."""
    records = [timed(ts, i) for i, ts in enumerate([*IN_RANGE, *OUT_OF_RANGE, *IN_RANGE])]
    native = Decoder(parse_config(FUZZ_CONFIG))
    result = native.decode(records, [0.0] * len(records))
    assert result.batch.size == 2 * len(IN_RANGE)
    assert {r.reason for r in result.rejections} == {"bad_time"}
    assert [r.position for r in result.rejections] == [
        len(IN_RANGE) + i for i in range(len(OUT_OF_RANGE))
    ]
    _, deferred = compare(FUZZ_CONFIG, [records])
    assert deferred == len(OUT_OF_RANGE)  # in-range times never call Python


def test_default_times_out_of_range_give_the_python_rejections() -> None:
    """Record timestamps outside the range (no time path) are the Python bad_time rejections."""
    defaults = [
        1.0, -0.001, 0.0, -0.0, 7258118399.999, 7258118400.0, 1e18, -1e18, math.nan, math.inf,
        -math.inf, 1e300, 1767225600.0, -5e-324, 2.0,
    ]  # fmt: skip
    records = [timed(b"0", i) for i in range(len(defaults))]
    native = Decoder(parse_config(PLAIN_CONFIG))
    rejections = native.decode(records, np.asarray(defaults)).rejections
    assert [r.position for r in rejections] == [1, 5, 6, 7, 8, 9, 10, 11, 13]
    assert all(r.reason == "bad_time" for r in rejections)
    assert rejections[0].message.startswith("record timestamp -0.001 s is outside")
    _, deferred = compare(PLAIN_CONFIG, [records], lambda i: defaults[i])
    assert deferred == 9
