"""Protobuf records, decoded with the ``protobuf`` package from a descriptor.

The descriptor comes from the registry (asked for the serialized ``FileDescriptorProto`` of the
record's schema id, as confluent-kafka's own deserializer does; the message is the one the
record's message indexes name) or from a descriptor set file (``protoc --include_imports
--descriptor_set_out=events.desc events.proto``; ``schema.message`` names the message, default:
the first message of the last file).

Messages become objects keyed by the field names of the ``.proto`` file. A field with presence
(``optional``, message fields, oneof members) that is not set is absent, so it is missing as
an absent JSON key is; a proto3 scalar without ``optional`` always has a value (0, "", false).
Enums become their value's name, 64-bit integers stay numbers, bytes become base64 text,
``google.protobuf.Timestamp`` RFC 3339 text and the wrapper types their value.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from detector.formats.base import FormatError, RecordFormat, dumps
from detector.formats.registry import RegistrySchemas
from detector.formats.wire import split_frame

_WRAPPERS = {
    f"google.protobuf.{n}Value"
    for n in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
}


def _pb() -> Any:
    try:
        from google import protobuf
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "format protobuf needs protobuf: pip install 'kafka-drift-detector[protobuf]'"
        ) from exc
    return protobuf


def _well_known_pool() -> Any:
    """A descriptor pool holding the well-known types schemas import."""
    _pb()
    from google.protobuf import (
        any_pb2,
        descriptor_pb2,
        descriptor_pool,
        duration_pb2,
        empty_pb2,
        struct_pb2,
        timestamp_pb2,
        wrappers_pb2,
    )

    pool = descriptor_pool.DescriptorPool()
    for module in (
        descriptor_pb2,
        any_pb2,
        duration_pb2,
        empty_pb2,
        struct_pb2,
        timestamp_pb2,
        wrappers_pb2,
    ):
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    return pool


def _add_files(pool: Any, files: list[Any]) -> None:
    """Add FileDescriptorProtos, skipping those the pool has (the well-known types)."""
    for proto in files:
        try:
            pool.FindFileByName(proto.name)
        except KeyError:
            pool.Add(proto)


def load_descriptor_set(path: str | Path, message: str | None) -> Any:
    """The message descriptor ``message`` (default: the first message of the last file) of a
    serialized ``FileDescriptorSet`` file."""
    _pb()
    from google.protobuf import descriptor_pb2

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    files = descriptor_pb2.FileDescriptorSet()
    try:
        files.ParseFromString(data)
    except Exception as exc:
        raise ValueError(f"{path}: not a Protobuf descriptor set: {exc}") from exc
    if not files.file:
        raise ValueError(f"{path}: the descriptor set holds no file")
    pool = _well_known_pool()
    try:
        _add_files(pool, list(files.file))
    except Exception as exc:
        raise ValueError(f"{path}: the descriptor set does not resolve: {exc}") from exc
    if message is None:
        last = files.file[-1]
        if not last.message_type:
            raise ValueError(f"{path}: {last.name} defines no message; set schema.message")
        message = f"{last.package}.{last.message_type[0].name}".lstrip(".")
    try:
        return pool.FindMessageTypeByName(message)
    except KeyError as exc:
        raise ValueError(f"{path}: no message {message!r} in the descriptor set") from exc


def message_dict(message: Any) -> dict[str, Any]:
    """A message as an object keyed by its ``.proto`` field names (see the module doc)."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.is_repeated:
            items = getattr(message, field.name)
            entry = field.message_type
            if entry is not None and entry.GetOptions().map_entry:
                value_field = entry.fields_by_name["value"]
                out[field.name] = {k: _value(value_field, v) for k, v in items.items()}
            else:
                out[field.name] = [_value(field, v) for v in items]
        elif field.has_presence and not message.HasField(field.name):
            continue
        else:
            out[field.name] = _value(field, getattr(message, field.name))
    return out


def _value(field: Any, value: Any) -> Any:
    kind = field.type
    if kind == field.TYPE_MESSAGE:
        name = field.message_type.full_name
        if name == "google.protobuf.Timestamp":
            return value.ToJsonString()
        if name in _WRAPPERS:
            return _value(field.message_type.fields_by_name["value"], value.value)
        return message_dict(value)
    if kind == field.TYPE_ENUM:
        number = field.enum_type.values_by_number.get(value)
        return number.name if number is not None else value
    if kind == field.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


class ProtobufFormat(RecordFormat):
    """Protobuf records: framed (Confluent wire format) or bare with a descriptor set file."""

    name = "protobuf"
    is_json = False

    def __init__(
        self,
        max_bytes: int,
        framed: bool = True,
        message: Any = None,
        registry: RegistrySchemas | None = None,
    ) -> None:
        super().__init__(max_bytes)
        if message is None and registry is None:
            raise ValueError("protobuf needs a descriptor set file or a schema registry")
        _pb()
        from google.protobuf import message_factory

        self._classes = message_factory.GetMessageClass
        self.framed = framed
        self.message = message
        self.registry = registry
        self._files: dict[int, Any] = {}  # schema id -> FileDescriptor
        self._types: dict[tuple[int, tuple[int, ...]], Any] = {}  # (id, indexes) -> class

    def message_class(self, schema_id: int, indexes: list[int]) -> Any:
        """The message class a record's schema id and message indexes name (cached)."""
        if self.message is not None:
            return self._classes(self.message)
        key = (schema_id, tuple(indexes))
        found = self._types.get(key)
        if found is None:
            descriptor = _indexed(self._file(schema_id), indexes, schema_id)
            found = self._types[key] = self._classes(descriptor)
        return found

    def _file(self, schema_id: int) -> Any:
        found = self._files.get(schema_id)
        if found is not None:
            return found
        from google.protobuf import descriptor_pb2

        assert self.registry is not None
        schema = self.registry.fetch(schema_id, serialized=True)
        kind = (getattr(schema, "schema_type", None) or "AVRO").upper()
        if kind != "PROTOBUF":
            raise FormatError("bad_schema", f"schema id {schema_id} is {kind}, not PROTOBUF")
        pool = _well_known_pool()
        try:
            files = []
            for ref in schema.references or ():
                text = self.registry.reference(ref.subject, ref.version, serialized=True)
                files.append(_file_proto(descriptor_pb2, text.schema_str, ref.name))
            main = _file_proto(descriptor_pb2, schema.schema_str, f"schema-{schema_id}.proto")
            _add_files(pool, [*files, main])
            found = pool.FindFileByName(main.name)
        except FormatError:
            raise
        except Exception as exc:
            raise FormatError("bad_schema", f"schema id {schema_id}: {exc}") from exc
        self._files[schema_id] = found
        return found

    def decode(self, raw: bytes) -> Any:
        """The message in ``raw``."""
        if self.framed:
            schema_id, indexes, payload = split_frame(raw, indexes=True)
        else:
            schema_id, indexes, payload = 0, [0], raw
        message = self.message_class(schema_id, indexes)()
        try:
            message.ParseFromString(payload)
        except Exception as exc:  # google.protobuf.message.DecodeError
            reason = "truncated" if "runcated" in str(exc) else "bad_payload"
            raise FormatError(reason, f"not Protobuf of its schema: {exc}") from exc
        return message

    def to_json(self, raw: bytes) -> bytes:
        return dumps(message_dict(self.decode(raw)))


def _file_proto(descriptor_pb2: Any, text: str, name: str) -> Any:
    """A FileDescriptorProto from the registry's serialized (base64) form."""
    proto = descriptor_pb2.FileDescriptorProto()
    proto.ParseFromString(base64.b64decode(text, validate=True))
    if not proto.name:
        proto.name = name
    return proto


def _indexed(file: Any, indexes: list[int], schema_id: int) -> Any:
    """The message descriptor the Confluent message indexes name in ``file`` (indexes count
    messages in declaration order: top-level ones, then nested ones)."""
    from google.protobuf import descriptor_pb2

    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    options, names = list(proto.message_type), [proto.package] if proto.package else []
    for index in indexes:
        if not 0 <= index < len(options):
            raise FormatError(
                "bad_schema", f"schema id {schema_id} has no message at indexes {indexes}"
            )
        names.append(options[index].name)
        options = list(options[index].nested_type)
    return file.pool.FindMessageTypeByName(".".join(names))
