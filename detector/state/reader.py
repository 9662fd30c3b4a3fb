"""Reading saved state back (:func:`detector.state.codec.decode_state` calls :class:`Reader`).

Every length, index, name and dtype in the payload is checked before it is used: the header
against the buffer, the arrays against the bytes after it (back to back, to the last byte),
class names against the registry, references against what was read so far. The only code a
payload can reach is a registered class's ``from_state``, which validates its own state.
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from detector.errors import StateError
from detector.state.format import DTYPES, FORMAT, MAGIC, MAX_DEPTH, PREFIX, STATE_VERSION
from detector.state.registry import BY_NAME, HOOKED

_PENDING = object()  # a memo slot whose object (built by from_state) is not ready yet
_NON_FINITE = {"nan", "inf", "-inf"}
_BIG_INT = re.compile(r"-?[0-9]{1,4000}")
_MAX_NDIM = 32
Array = tuple[np.dtype[Any], tuple[int, ...], int, int]  # dtype, shape, offset, nbytes


def _field_name(name: object) -> bool:
    """A plain attribute name: never a dunder such as ``__class__`` or ``__dict__``."""
    return type(name) is str and name.isidentifier() and not name.startswith("__")


class Reader:
    """One payload's header, arrays and objects read so far."""

    def __init__(self, data: bytes, shared: Mapping[str, object]) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise StateError(f"state must be bytes, not {type(data).__name__}")
        self.data = bytes(data)
        self.shared = shared
        self.memo: list[object] = []
        self.types: list[tuple[type, list[str] | None]] = []
        self.arrays: list[Array] = []
        self.used: set[int] = set()  # each array is read once: no amplification by reuse
        self.blob = b""

    def run(self) -> Any:
        data = self.data
        if len(data) < PREFIX.size:
            raise StateError(f"truncated state: {len(data)} bytes, the prefix alone is 9")
        magic, version, length = PREFIX.unpack_from(data)
        if magic != MAGIC:
            raise StateError(f"not detector state: magic {magic!r}, expected {MAGIC!r}")
        if version != FORMAT:
            raise StateError(f"unsupported state format {version} (this build reads {FORMAT})")
        if length > len(data) - PREFIX.size:
            raise StateError(
                f"truncated state: header of {length:,} bytes, "
                f"{len(data) - PREFIX.size:,} bytes follow the prefix"
            )
        try:
            header = orjson.loads(data[PREFIX.size : PREFIX.size + length])
        except orjson.JSONDecodeError as exc:
            raise StateError(f"state header is not JSON: {exc}") from None
        if type(header) is not dict or set(header) != {"state", "types", "arrays", "root"}:
            raise StateError("state header lacks state, types, arrays or root")
        saved = header["state"]
        if type(saved) is not int or saved != STATE_VERSION:
            raise StateError(
                f"state version {saved!r} is not {STATE_VERSION}: discard it and rebuild"
            )
        self.blob = data[PREFIX.size + length :]
        self._read_types(header["types"])
        self._read_arrays(header["arrays"])
        return self.node(header["root"], 0)

    def _read_types(self, types: object) -> None:
        if type(types) is not list:
            raise StateError("state types are not a list")
        for entry in types:
            if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not str:
                raise StateError(f"malformed state type entry {entry!r:.80}")
            name, fields = entry
            cls = BY_NAME.get(name)
            if cls is None:
                raise StateError(f"unknown class {name!r:.200}: not in detector.state.registry")
            if cls in HOOKED and fields is not None:
                raise StateError(f"{name} is saved through its to_state, not as fields")
            if cls not in HOOKED and fields is None:
                raise StateError(f"{name} has no to_state: it is saved as fields")
            if fields is not None and (
                type(fields) is not list
                or not all(_field_name(f) for f in fields)
                or len(set(fields)) != len(fields)
            ):
                raise StateError(f"bad field names for {name}: {fields!r:.200}")
            self.types.append((cls, fields))

    def _read_arrays(self, arrays: object) -> None:
        if type(arrays) is not list:
            raise StateError("state arrays are not a list")
        end = 0
        for entry in arrays:
            if type(entry) is not list or len(entry) != 4:
                raise StateError(f"malformed array entry {entry!r:.80}")
            name, shape, offset, nbytes = entry
            if type(name) is not str or name not in DTYPES:
                raise StateError(f"array dtype {name!r:.40} is not allowed (numbers only)")
            if (
                type(shape) is not list
                or len(shape) > _MAX_NDIM
                or not all(type(n) is int and n >= 0 for n in shape)
            ):
                raise StateError(f"bad array shape {shape!r:.80}")
            dtype = np.dtype(name)
            if type(offset) is not int or offset != end or type(nbytes) is not int:
                raise StateError(f"array at offset {offset!r:.20}, expected {end}")
            if math.prod(shape) * dtype.itemsize != nbytes:
                raise StateError(f"array of shape {shape} and dtype {name} is not {nbytes} bytes")
            end += nbytes
            if end > len(self.blob):
                raise StateError(
                    f"truncated state: arrays need {end:,} bytes, {len(self.blob):,} left"
                )
            self.arrays.append((dtype, tuple(shape), offset, nbytes))
        if end != len(self.blob):
            raise StateError(f"{len(self.blob) - end:,} unexplained bytes after the arrays")

    def _array(self, index: object) -> np.ndarray:
        if type(index) is not int or not 0 <= index < len(self.arrays) or index in self.used:
            raise StateError(f"bad or reused array index {index!r:.20}")
        self.used.add(index)
        dtype, shape, offset, nbytes = self.arrays[index]
        raw = np.frombuffer(self.blob, np.uint8, nbytes, offset)
        if dtype.kind == "b" and nbytes and raw.max() > 1:
            raise StateError("bool array holds bytes other than 0 and 1")
        return raw.view(dtype).reshape(shape).copy()  # a copy: frombuffer's is read-only

    def node(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if value is None or kind is bool or kind is int or kind is float or kind is str:
            return value
        if depth > MAX_DEPTH:
            raise StateError(f"state nested deeper than {MAX_DEPTH} levels")
        if kind is dict:
            out: dict[Any, Any] = {}
            self.memo.append(out)
            for key, item in value.items():
                out[key] = self.node(item, depth + 1)
            return out
        if kind is not list or not value or type(value[0]) is not str:
            raise StateError(f"malformed state node {value!r:.80}")
        return self._tagged(value[0], value[1:], depth + 1)

    def _items(self, values: list[Any], depth: int) -> list[Any]:
        return [self.node(v, depth) for v in values]

    def _tagged(self, tag: str, args: list[Any], depth: int) -> Any:
        if tag == "f" and len(args) == 1 and args[0] in _NON_FINITE:
            return float(args[0])
        if tag == "n" and len(args) == 1 and type(args[0]) is str and _BIG_INT.fullmatch(args[0]):
            return int(args[0])
        if tag == "t":
            return tuple(self._items(args, depth))
        if tag == "F":
            return frozenset(self._items(args, depth))
        if tag == "r" and len(args) == 1 and type(args[0]) is str:
            if args[0] not in self.shared:
                raise StateError(f"unknown shared object {args[0]!r:.200}")
            return self.shared[args[0]]
        if tag == "m" and len(args) == 1 and type(args[0]) is int:
            if not 0 <= args[0] < len(self.memo) or self.memo[args[0]] is _PENDING:
                raise StateError(f"reference to an object not read yet: {args[0]}")
            return self.memo[args[0]]
        if tag in ("o", "h") and args and type(args[0]) is int and 0 <= args[0] < len(self.types):
            return self._object(tag, args, depth)
        return self._container(tag, args, depth)

    def _container(self, tag: str, args: list[Any], depth: int) -> Any:
        if tag == "l":
            out: list[Any] = []
            self.memo.append(out)
            out.extend(self._items(args, depth))
            return out
        if tag in ("d", "C") and len(args) % 2 == 0:
            mapping: dict[Any, Any] = {} if tag == "d" else Counter()
            self.memo.append(mapping)
            for i in range(0, len(args), 2):
                key = self.node(args[i], depth)
                mapping[key] = self.node(args[i + 1], depth)
            return mapping
        if tag == "q" and args and (args[0] is None or (type(args[0]) is int and args[0] >= 0)):
            if args[0] is not None and len(args) - 1 > args[0]:
                raise StateError(f"deque of {len(args) - 1} items exceeds its maxlen {args[0]}")
            queue: deque[Any] = deque(maxlen=args[0])
            self.memo.append(queue)
            queue.extend(self._items(args[1:], depth))
            return queue
        if tag == "s":
            members: set[Any] = set()
            self.memo.append(members)
            members.update(self._items(args, depth))
            return members
        if tag == "a" and len(args) == 1:
            array = self._array(args[0])
            self.memo.append(array)
            return array
        raise StateError(f"malformed state node tagged {tag!r:.20}")

    def _object(self, tag: str, args: list[Any], depth: int) -> Any:
        cls, fields = self.types[args[0]]
        if tag == "h":
            if fields is not None or len(args) != 2:
                raise StateError(f"malformed saved {cls.__qualname__}")
            slot = len(self.memo)
            self.memo.append(_PENDING)
            obj = cls.from_state(self.node(args[1], depth))
            if type(obj) is not cls:
                raise StateError(f"{cls.__qualname__}.from_state returned a {type(obj).__name__}")
            self.memo[slot] = obj
            return obj
        if fields is None or len(args) - 1 != len(fields):
            raise StateError(f"{cls.__qualname__} saved with {len(args) - 1} values for {fields}")
        obj = object.__new__(cls)  # no constructor runs
        self.memo.append(obj)
        slots = set(slots_of(cls))
        has_dict = hasattr(obj, "__dict__")
        for name, item in zip(fields, args[1:], strict=True):
            value = self.node(item, depth)
            if name in slots:
                object.__setattr__(obj, name, value)
            elif has_dict:
                obj.__dict__[name] = value  # no descriptor, no __setattr__ (frozen dataclasses)
            else:
                raise StateError(f"{cls.__qualname__} has no field {name!r}")
        return obj


def slots_of(cls: type) -> list[str]:
    """Slot names of ``cls`` and its bases (besides ``__dict__`` and ``__weakref__``)."""
    names: list[str] = []
    for klass in cls.__mro__:
        slots = vars(klass).get("__slots__", ())
        for slot in [slots] if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__"):
                names.append(slot)
    return names
