"""Save detector state to bytes and read it back: :func:`encode_state`, :func:`decode_state`.

The byte layout is in :mod:`detector.state.format`. Reading builds only plain values, arrays of
allow-listed dtypes and instances of the classes in :mod:`detector.state.registry`, made with
``object.__new__`` and filled through their ``__dict__`` (or slots): no constructor,
``__setstate__``, ``__reduce__`` or import runs, except a registered class's own ``from_state``.
Anything malformed raises :class:`~detector.errors.StateError`.

>>> from collections import deque
>>> state = {("amount", None, None): deque([1.5, float("nan")], maxlen=3), "n": np.arange(3)}
>>> decode_state(encode_state(state))
{('amount', None, None): deque([1.5, nan], maxlen=3), 'n': array([0, 1, 2])}
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import orjson

from detector.errors import StateError
from detector.state.format import DTYPES, FORMAT, MAGIC, MAX_DEPTH, PREFIX, STATE_VERSION
from detector.state.reader import Reader, slots_of
from detector.state.registry import HOOKED, PERSISTED, class_name

__all__ = ["STATE_VERSION", "Shared", "StateError", "decode_state", "encode_state"]

_INT64 = (-(2**63), 2**63 - 1)
_SCALARS = (type(None), bool, int, float, str)
_REGISTERED = frozenset(PERSISTED)


class Shared(Mapping[str, object]):
    """Objects saved by name only, with the reverse index built once (reuse it across calls)."""

    def __init__(self, objects: Mapping[str, object]) -> None:
        self._objects = dict(objects)
        # Scalars have no identity worth keeping (small ints are interned).
        self._names = {id(v): k for k, v in self._objects.items() if type(v) not in _SCALARS}

    def __getitem__(self, name: str) -> object:
        return self._objects[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._objects)

    def __len__(self) -> int:
        return len(self._objects)

    def name_of(self, obj: object) -> str | None:
        return self._names.get(id(obj))


def encode_state(obj: object, shared: Mapping[str, object] | None = None) -> bytes:
    """Serialise ``obj``; an object that *is* one of ``shared`` is written as its name."""
    table = shared if isinstance(shared, Shared) else Shared(shared or {})
    encoder = _Encoder(table)
    root = encoder.node(obj, 0)
    header = {
        "state": STATE_VERSION,
        "types": encoder.types,
        "arrays": encoder.arrays,
        "root": root,
    }
    try:
        text = orjson.dumps(header)
    except orjson.JSONEncodeError as exc:
        raise StateError(f"cannot write the state header: {exc}") from exc
    if len(text) >= 2**32:
        raise StateError(f"state header of {len(text):,} bytes is too large")
    return b"".join([PREFIX.pack(MAGIC, FORMAT, len(text)), text, *encoder.blobs])


def decode_state(data: bytes, shared: Mapping[str, object] | None = None) -> Any:
    """Rebuild what :func:`encode_state` wrote; ``shared`` must name the same objects."""
    try:
        return Reader(data, shared or {}).run()
    except StateError:
        raise
    except RecursionError:
        raise StateError("state nested too deeply") from None
    except Exception as exc:  # whatever else a malformed payload trips over is malformed state
        raise StateError(f"malformed state: {type(exc).__name__}: {exc}") from exc
    except BaseException as exc:  # a Rust panic (pyo3's PanicException) is a BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        raise StateError(f"malformed state: {type(exc).__name__}: {exc}") from exc


class _Encoder:
    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.memo: dict[int, int] = {}  # id -> index, in first-met order (the decoder's order)
        self.alive: list[object] = []  # memoised objects stay alive, so their ids stay unique
        self.type_index: dict[tuple[type, tuple[str, ...] | None], int] = {}
        self.types: list[list[Any]] = []
        self.arrays: list[list[Any]] = []
        self.blobs: list[bytes] = []
        self.offset = 0

    def node(self, obj: object, depth: int) -> Any:
        kind = type(obj)
        if obj is None or kind is bool or kind is str:
            return obj
        if kind is int:
            return obj if _INT64[0] <= obj <= _INT64[1] else ["n", str(obj)]  # type: ignore[operator]
        if kind is float:
            return obj if math.isfinite(obj) else ["f", repr(obj)]  # type: ignore[arg-type]
        if isinstance(obj, np.generic) and not isinstance(obj, np.void):
            return self.node(obj.item(), depth)  # numpy scalars become Python scalars
        if depth > MAX_DEPTH:
            raise StateError(f"state nested deeper than {MAX_DEPTH} levels")
        name = self.shared.name_of(obj)
        if name is not None:
            return ["r", name]
        if kind is tuple:
            return ["t", *self._items(obj, depth)]  # type: ignore[arg-type]
        if kind is frozenset:
            return ["F", *self._items(_ordered(obj), depth)]  # type: ignore[arg-type]
        seen = self.memo.get(id(obj))
        if seen is not None:
            return ["m", seen]
        self.memo[id(obj)] = len(self.memo)
        self.alive.append(obj)
        return self._container(obj, kind, depth)

    def _container(self, obj: Any, kind: type, depth: int) -> Any:
        if kind is list:
            return ["l", *self._items(obj, depth)]
        if kind is dict:
            if all(type(key) is str for key in obj):
                return {key: self.node(value, depth + 1) for key, value in obj.items()}
            return ["d", *self._pairs(obj, depth)]
        if kind is Counter:
            return ["C", *self._pairs(obj, depth)]
        if kind is deque:
            return ["q", obj.maxlen, *self._items(obj, depth)]
        if kind is set:
            return ["s", *self._items(_ordered(obj), depth)]
        if kind is np.ndarray:
            return ["a", self._array(obj)]
        if kind in _REGISTERED:
            return self._object(obj, kind, depth)
        raise StateError(
            f"cannot save a {kind.__module__}.{kind.__qualname__}: "
            "not a registered class (detector.state.registry)"
        )

    def _items(self, items: Iterable[object], depth: int) -> list[Any]:
        return [self.node(item, depth + 1) for item in items]

    def _pairs(self, mapping: Mapping[Any, Any], depth: int) -> list[Any]:
        out: list[Any] = []
        for key, value in mapping.items():
            out += [self.node(key, depth + 1), self.node(value, depth + 1)]
        return out

    def _type(self, kind: type, fields: tuple[str, ...] | None) -> int:
        index = self.type_index.get((kind, fields))
        if index is None:
            index = self.type_index[(kind, fields)] = len(self.types)
            self.types.append([class_name(kind), None if fields is None else list(fields)])
        return index

    def _object(self, obj: Any, kind: type, depth: int) -> Any:
        if kind in HOOKED:
            try:
                state = obj.to_state()
            except Exception as exc:
                raise StateError(f"{kind.__qualname__}.to_state failed: {exc}") from exc
            return ["h", self._type(kind, None), self.node(state, depth + 1)]
        values = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
        for slot in slots_of(kind):
            if hasattr(obj, slot):
                values[slot] = getattr(obj, slot)
        out: list[Any] = ["o", self._type(kind, tuple(values))]
        for field, value in values.items():
            try:
                out.append(self.node(value, depth + 1))
            except StateError as exc:  # name the path to what could not be saved
                raise StateError(f"{kind.__qualname__}.{field}: {exc}") from None
        return out

    def _array(self, array: np.ndarray) -> int:
        dtype = array.dtype.newbyteorder("<") if array.dtype.kind in "biuf" else array.dtype
        if dtype.str not in DTYPES:
            raise StateError(f"cannot save an array of dtype {array.dtype}: numbers only")
        data = np.ascontiguousarray(array, dtype=dtype).tobytes()
        self.arrays.append([dtype.str, list(array.shape), self.offset, len(data)])
        self.blobs.append(data)
        self.offset += len(data)
        return len(self.arrays) - 1


def _ordered(items: Iterable[Any]) -> list[Any]:
    """Set members sorted when they compare, so equal states encode to equal bytes."""
    try:
        return sorted(items)
    except TypeError:
        return list(items)
