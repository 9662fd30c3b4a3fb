"""The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then (Protobuf only)
the message indexes as zigzag varints, then the payload.

>>> frame = bytes([0, 0, 0, 1, 2]) + b"payload"
>>> split_frame(frame)
(258, b'payload')
>>> split_frame(bytes([0, 0, 0, 0, 7, 0]) + b"msg", indexes=True)  # 0: the first message
(7, [0], b'msg')
>>> split_frame(bytes([0, 0, 0, 0, 7, 4, 2, 6]) + b"msg", indexes=True)  # two: [1, 3]
(7, [1, 3], b'msg')
"""

from __future__ import annotations

from typing import Literal, overload

from detector.formats.base import FormatError

MAGIC = 0
_HEADER = 5
_MAX_INDEXES = 100  # nesting depth no real schema reaches; a longer list is garbage


def frame(schema_id: int, payload: bytes, indexes: list[int] | None = None) -> bytes:
    """``payload`` framed as the Confluent serializers frame it (``indexes``: Protobuf).

    >>> frame(258, b"x")
    b'\\x00\\x00\\x00\\x01\\x02x'
    """
    head = bytes([MAGIC]) + schema_id.to_bytes(4, "big")
    if indexes is None:
        return head + payload
    if indexes == [0]:
        return head + b"\x00" + payload
    body = _varint(_zigzag(len(indexes))) + b"".join(_varint(_zigzag(i)) for i in indexes)
    return head + body + payload


@overload
def split_frame(raw: bytes, indexes: Literal[False] = False) -> tuple[int, bytes]: ...
@overload
def split_frame(raw: bytes, indexes: Literal[True]) -> tuple[int, list[int], bytes]: ...
def split_frame(
    raw: bytes, indexes: bool = False
) -> tuple[int, bytes] | tuple[int, list[int], bytes]:
    """The schema id (and message indexes) and the payload of a framed record."""
    if not raw or raw[0] != MAGIC:
        first = f"0x{raw[0]:02x}" if raw else "nothing"
        raise FormatError(
            "not_wire_format", f"starts with {first}, not the Confluent magic byte 0x00"
        )
    if len(raw) < _HEADER:
        raise FormatError("truncated", f"{len(raw)} bytes, shorter than the 5-byte header")
    schema_id = int.from_bytes(raw[1:_HEADER], "big")
    if not indexes:
        return schema_id, raw[_HEADER:]
    count, at = _read_varint(raw, _HEADER)
    count = _unzigzag(count)
    if count == 0:
        return schema_id, [0], raw[at:]
    if not 0 < count <= _MAX_INDEXES:
        raise FormatError("bad_payload", f"{count} message indexes: not a Protobuf frame")
    found = []
    for _ in range(count):
        value, at = _read_varint(raw, at)
        found.append(_unzigzag(value))
    return schema_id, found, raw[at:]


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _unzigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(raw: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(raw):
            raise FormatError("truncated", "the record ends inside its message indexes")
        byte = raw[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise FormatError("bad_payload", "a message index is not a varint")
