"""Malformed and hostile state payloads: each one raises StateError, and none runs code."""

from __future__ import annotations

import json
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detector.alerts import Lifecycle
from detector.detectors.adwin import Adwin
from detector.errors import StateError
from detector.state import STATE_VERSION, decode_state, encode_state
from detector.state.format import FORMAT, MAGIC, PREFIX


def payload(
    root: Any = None,
    *,
    types: Any = (),
    arrays: Any = (),
    blob: bytes = b"",
    version: Any = STATE_VERSION,
    header: bytes | None = None,
    magic: bytes = MAGIC,
    fmt: int = FORMAT,
) -> bytes:
    """A payload built by hand, valid unless one of its parts is made wrong."""
    if header is None:
        fields = {"state": version, "types": list(types), "arrays": list(arrays), "root": root}
        header = json.dumps(fields).encode()  # not orjson: it refuses big ints and deep nests
    return PREFIX.pack(magic, fmt, len(header)) + header + blob


class _Exploit:
    """What an attacker would put in a pickle: unpickling runs ``os.system``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_is_refused_and_never_run(tmp_path: Path) -> None:
    """A real pickle whose loading would run a shell command, alone or inside a payload."""
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Exploit(marker))
    attempts = [
        evil,
        payload(header=evil),
        MAGIC + evil,
        payload(["a", 0], arrays=[["|u1", [len(evil)], 0, len(evil)]], blob=evil),
        payload(["h", 0, {"values": evil.decode("latin-1")}], types=[["builtins.object", None]]),
    ]
    results = []
    for data in attempts:
        try:
            results.append(decode_state(data))
        except StateError:
            results.append("refused")
    assert not marker.exists()
    assert results[:3] + results[4:] == ["refused"] * 4
    assert bytes(results[3]) == evil  # as an array of bytes it is just data


@pytest.mark.parametrize(
    "name",
    [
        "os.system",
        "builtins.eval",
        "subprocess.Popen",
        "posix.system",
        "detector.alerts.Lifecycle.detect",
        "detector.state.codec.Shared",
        "pickle.loads",
    ],
)
def test_classes_outside_the_registry_are_refused(name: str) -> None:
    """A header naming any importable callable as a class is refused by name."""
    data = payload(["o", 0, "rm -rf /"], types=[[name, ["command"]]])
    with pytest.raises(StateError, match="unknown class"):
        decode_state(data)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["__class__"], "bad field names"),
        (["__dict__"], "bad field names"),
        (["a b"], "bad field names"),
        (["x", "x"], "bad field names"),
        ("firing", "bad field names"),
        (None, "no to_state"),
    ],
)
def test_field_names_are_checked(fields: Any, message: str) -> None:
    """Dunders (``__class__``), non-identifiers and duplicates cannot be set on an object."""
    data = payload(["o", 0, "os"], types=[["detector.alerts.Lifecycle", fields]])
    with pytest.raises(StateError, match=message):
        decode_state(data)


@pytest.mark.parametrize("dtype", ["|O", "O", "<c16", "|V8", "<M8[ns]", "<U4", "|S4", ">f8"])
def test_arrays_of_other_dtypes_are_refused(dtype: str) -> None:
    """Only the numeric allow-list: object, complex, void, datetime, text, big-endian."""
    data = payload(["a", 0], arrays=[[dtype, [1], 0, 8]], blob=b"\0" * 8)
    with pytest.raises(StateError, match="not allowed"):
        decode_state(data)


def test_real_state_truncated_anywhere_is_refused() -> None:
    """Every proper prefix of a real payload, and one byte more, raises StateError."""
    adwin = Adwin()
    adwin.update_many(np.random.default_rng(0).normal(size=100))
    data = encode_state({"a": adwin, "life": Lifecycle(), "z": np.arange(5.0)})
    assert decode_state(data)["a"].width == 100
    for end in range(len(data)):
        with pytest.raises(StateError):
            decode_state(data[:end])
    with pytest.raises(StateError, match="unexplained bytes"):
        decode_state(data + b"\0")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (b"PK\x03\x04" + b"\0" * 20, "bad magic|not detector state"),
        (payload(None, magic=b"KDDX"), "not detector state"),
        (payload(None, fmt=FORMAT + 1), "unsupported state format"),
        (payload(None, version=STATE_VERSION + 1), "discard it and rebuild"),
        (payload(None, version=True), "state version"),
        (payload(None, version=str(STATE_VERSION)), "state version"),
        (PREFIX.pack(MAGIC, FORMAT, 2**32 - 1) + b"{}", "truncated"),
        (payload(header=b"\xff\xfe not json"), "not JSON"),
        (payload(header=b'{"state": NaN}'), "not JSON"),
        (payload(header=b"[" * 5000 + b"]" * 5000), "not JSON"),
        (payload(header=b"[1, 2]"), "lacks"),
        (payload(header=b'{"state": 1}'), "lacks"),
        ("not bytes", "must be bytes"),
    ],
)
def test_broken_envelopes_are_refused(data: Any, message: str) -> None:
    """Wrong magic, format or version, absurd lengths, non-JSON or incomplete headers."""
    with pytest.raises(StateError, match=message):
        decode_state(data)


@pytest.mark.parametrize(
    ("root", "arrays", "blob", "message"),
    [
        (["a", 0], [["<f8", [2**62, 2**62], 0, 8]], b"\0" * 8, "is not 8 bytes"),
        (["a", 0], [["<f8", [2**40], 0, 2**43]], b"", "truncated"),
        (["a", 0], [["<f8", [1], 8, 8]], b"\0" * 16, "offset"),
        (["a", 0], [["<f8", [-1], 0, -8]], b"", "bad array shape"),
        (["a", 0], [["<f8", [1] * 40, 0, 8]], b"\0" * 8, "bad array shape"),
        (["a", 0], [["|b1", [1], 0, 1]], b"\x02", "other than 0 and 1"),
        (["l", ["a", 0], ["a", 0]], [["<f8", [1], 0, 8]], b"\0" * 8, "reused array"),
        (["a", 1], [], b"", "bad or reused array index"),
    ],
)
def test_array_entries_are_checked(root: Any, arrays: Any, blob: bytes, message: str) -> None:
    """Sizes must match shape and dtype, fit the buffer, and each array is read once."""
    with pytest.raises(StateError, match=message):
        decode_state(payload(root, arrays=arrays, blob=blob))


def _nested(depth: int) -> Any:
    node: Any = 1
    for _ in range(depth):
        node = ["l", node]
    return node


@pytest.mark.parametrize(
    ("root", "message"),
    [
        (_nested(500), "nested deeper"),
        (["m", 0], "not read yet"),
        (["l", ["m", 0], ["m", 5]], "not read yet"),
        (["x"], "tagged 'x'"),
        ([], "malformed state node"),
        ([1, 2], "malformed state node"),
        (["f", "1e999"], "malformed"),
        (["n", "1" * 5000], "malformed"),
        (["d", 1], "malformed"),
        (["d", ["l"], 1], "unhashable"),
        (["q", 1, 1, 2], "exceeds its maxlen"),
        (["q", -1], "malformed"),
        (["o", 3], "malformed"),
        (["r", 7], "malformed"),
    ],
)
def test_malformed_nodes_are_refused(root: Any, message: str) -> None:
    """Deep nesting, forward references, unknown tags and ill-formed containers."""
    with pytest.raises(StateError, match=message):
        decode_state(payload(root))


@pytest.mark.parametrize(
    "state",
    [
        {"delta": 0.1, "clock": 0, "min_window_length": 5, "max_window": 8, "values": []},
        {"delta": 2.0, "clock": 32, "min_window_length": 5, "max_window": 8, "values": []},
        {"delta": 0.1, "clock": 32, "min_window_length": 5, "max_window": 2, "values": [1, 2, 3]},
        {"delta": 0.1, "clock": 2**70, "min_window_length": 5, "max_window": 8, "values": []},
        {"delta": 0.1},
        [1, 2, 3],
    ],
)
def test_hook_state_is_validated(state: Any) -> None:
    """A bad ADWIN state (a zero clock would panic river's Rust core) is a StateError."""
    data = payload(["h", 0, state], types=[["detector.detectors.adwin.Adwin", None]])
    with pytest.raises(StateError):
        decode_state(data)


def test_random_corruption_never_escapes_as_another_error() -> None:
    """Thousands of random byte edits of a real payload: a value or StateError, nothing else."""
    life = Lifecycle(firing=True, detections=2)
    data = encode_state({("f", None, None): [life, life], "a": np.arange(4.0), "s": {1, 2}})
    rng = random.Random(5)
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(3000):
        broken = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            broken[rng.randrange(len(broken))] = rng.randrange(256)
        try:
            decode_state(bytes(broken))
            outcomes["ok"] += 1
        except StateError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0
