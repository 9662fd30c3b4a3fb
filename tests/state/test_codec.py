"""The state codec: every supported value round-trips exactly, shared objects stay shared."""

from __future__ import annotations

import math
from collections import Counter, deque
from typing import Any

import numpy as np
import pytest

from detector.alerts import Lifecycle
from detector.detectors.adwin import Adwin
from detector.errors import DetectorError, StateError
from detector.labels.series import Columns
from detector.state import STATE_VERSION, Shared, decode_state, encode_state
from detector.windows import WindowClock


def roundtrip(obj: object, shared: dict[str, object] | None = None) -> Any:
    return decode_state(encode_state(obj, shared), shared)


def test_plain_values_round_trip() -> None:
    """Scalars, containers and keys of every supported kind come back equal and typed."""
    value: dict[Any, Any] = {
        "none": None,
        "flags": [True, False],
        "ints": (0, -(2**63), 2**63 - 1, 2**80, -(2**70)),
        "floats": [0.1, -0.0, 1e308, 5e-324],
        "text": "ü\u2603\x00",
        ("amount", None, None): {1: "int key", 2.5: "float key", (None, "x"): "tuple key"},
        "set": {3, 1, 2},
        "frozen": frozenset({"a", "b"}),
        "deque": deque([1, 2], maxlen=5),
        "unbounded": deque([1.5]),
        "counter": Counter({("1", "0"): 3, ("0", "0"): 7}),
        "empty": [{}, [], (), set(), Counter()],
    }
    back = roundtrip(value)
    assert back == value
    assert type(back["ints"]) is tuple and type(back["counter"]) is Counter
    assert back["deque"].maxlen == 5 and back["unbounded"].maxlen is None
    assert math.copysign(1.0, back["floats"][1]) == -1.0
    assert list(back) == list(value)  # dict order is kept


def test_non_finite_floats_are_tagged() -> None:
    """NaN and infinities survive (orjson alone would write null)."""
    back = roundtrip([math.nan, math.inf, -math.inf, np.float64("nan")])
    assert math.isnan(back[0]) and back[1] == math.inf and back[2] == -math.inf
    assert math.isnan(back[3]) and type(back[3]) is float


def test_arrays_keep_dtype_shape_and_bytes() -> None:
    """Numeric arrays of every allowed dtype round-trip bit for bit and come back writable."""
    arrays = [
        np.array([1.5, np.nan, -np.inf]),
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.array([True, False]),
        np.zeros(0),
        np.array(7, dtype=np.uint16),
        np.arange(6, dtype=np.float32)[::2],  # a strided view
        np.arange(4, dtype=">i8"),  # big-endian input
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    ]
    for original, back in zip(arrays, roundtrip(arrays), strict=True):
        assert back.shape == original.shape
        assert back.dtype == original.dtype.newbyteorder("=")
        np.testing.assert_array_equal(back, original)
        assert back.flags.writeable


def test_numpy_scalars_become_python_scalars() -> None:
    """numpy scalars are saved as the Python scalar of the same value."""
    back = roundtrip([np.int64(-3), np.float64(0.25), np.bool_(True), np.float32(0.1)])
    assert back == [-3, 0.25, True, float(np.float32(0.1))]
    assert [type(v) for v in back] == [int, float, bool, float]


def test_aliases_and_cycles_survive() -> None:
    """An object met twice is one object after reading; a cycle through an object closes."""
    shared_list: list[int] = [1]
    array = np.zeros(3)
    life = Lifecycle()
    holder = {"a": shared_list, "b": shared_list, "x": array, "y": array, "l1": life, "l2": life}
    back = roundtrip(holder)
    assert back["a"] is back["b"] and back["x"] is back["y"] and back["l1"] is back["l2"]
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    again = roundtrip(cyclic)
    assert again[0] is again


def test_registered_objects_come_back_with_their_fields() -> None:
    """Registered classes come back with their fields, and behave as before."""
    life = Lifecycle(firing=True, started_at=12.5, severity="critical", detections=3)
    clock = WindowClock(size=0, seconds=10.0)
    clock.closes(np.array([0.0, 4.0, 11.0]))
    back_life, back_clock = roundtrip([life, clock])
    assert back_life == life and back_life.window_checked(True, 1)
    assert vars(back_clock) == vars(clock) and back_clock.started_at == 11.0
    assert back_clock.closes(np.array([20.0, 21.0])) == clock.closes(np.array([20.0, 21.0]))


def test_hooks_save_what_cannot_be_walked() -> None:
    """Adwin and Columns go through to_state / from_state; object arrays become lists, class
    probabilities stay a rows x classes array."""
    adwin = Adwin(delta=0.01)
    adwin.update_many(np.random.default_rng(1).normal(size=100))
    labels = np.array(["1", "0"], dtype=object)
    probabilities = np.array([[0.2, 0.8], [0.6, 0.4]])
    columns = Columns(
        labels,
        labels.copy(),
        np.zeros(2),
        np.array([True, False]),
        *[np.ones(2)] * 3,
        probabilities,
    )
    back_adwin, back_columns = roundtrip([adwin, columns])
    assert back_adwin.to_state().keys() == adwin.to_state().keys()
    for key, value in adwin.to_state().items():
        np.testing.assert_array_equal(back_adwin.to_state()[key], value)
    assert back_adwin.width == adwin.width == 100
    assert back_columns.predicted.dtype == object and back_columns.predicted.tolist() == ["1", "0"]
    np.testing.assert_array_equal(back_columns.probabilities, probabilities)


def test_shared_objects_are_saved_by_name() -> None:
    """A shared object is written as its name and replaced by the reader's object."""
    context = {"settings": "big"}
    data = encode_state({"ctx": context, "again": context}, {"context:x": context})
    assert b"big" not in data
    mine = {"settings": "mine"}
    back = decode_state(data, Shared({"context:x": mine}))
    assert back["ctx"] is mine and back["again"] is mine
    with pytest.raises(StateError, match="unknown shared object 'context:x'"):
        decode_state(data)


def test_unsupported_objects_cannot_be_saved() -> None:
    """A lambda, an unregistered class, an object array or a complex number: StateError."""
    cases: list[tuple[object, str]] = [
        ({"f": lambda: 1}, "function"),
        (Lifecycle, "type"),
        (object(), "object"),
        (np.array(["a"], dtype=object), "dtype object"),
        (np.array([1 + 2j]), "complex"),
    ]
    for value, message in cases:
        with pytest.raises(StateError, match=message):
            encode_state(value)


def test_errors_name_the_path_and_belong_to_the_tree() -> None:
    """An unsaveable field is named with its owner; StateError is a DetectorError."""
    life = Lifecycle()
    life.severity = print  # type: ignore[assignment]
    with pytest.raises(StateError, match=r"Lifecycle\.severity: cannot save a builtins"):
        encode_state(life)
    assert issubclass(StateError, DetectorError)


def test_encoding_is_deterministic() -> None:
    """Equal state gives equal bytes (sets are written sorted), and carries STATE_VERSION."""
    first = encode_state({"known": {"b", "a", "c"}, "n": np.arange(3)})
    second = encode_state({"known": {"c", "a", "b"}, "n": np.arange(3)})
    assert first == second
    assert f'"state":{STATE_VERSION}'.encode() in first
