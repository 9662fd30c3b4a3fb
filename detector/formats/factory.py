"""The :class:`~detector.formats.base.RecordFormat` a config section asks for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from detector.errors import ConfigError
from detector.formats.base import JsonFormat, RecordFormat

if TYPE_CHECKING:
    from detector.config import EventConfig, LabelSpec


def record_format(
    spec: EventConfig | LabelSpec,
    registry: Mapping[str, Any],
    max_bytes: int,
    where: str = "event",
) -> RecordFormat:
    """The format of ``spec`` (``event`` or ``label``); a schema file that cannot be used, or
    a missing package, is a :class:`ConfigError` naming the field."""
    if spec.format == "json":
        return JsonFormat(max_bytes)
    from detector.formats.registry import RegistrySchemas

    framed = spec.framing == "confluent"
    try:
        source = None if spec.schema_file else RegistrySchemas(registry)
    except ImportError as exc:
        raise ConfigError(f"{where}.format: {exc}") from exc
    except (ValueError, TypeError) as exc:  # the client's own check of its settings
        raise ConfigError(f"schema_registry: {exc}") from exc
    try:
        if spec.format == "avro":
            from detector.formats.avro import AvroFormat, load_avsc

            schema = load_avsc(spec.schema_file) if spec.schema_file else None
            return AvroFormat(max_bytes, framed, schema, source)
        from detector.formats.protobuf import ProtobufFormat, load_descriptor_set

        message = (
            load_descriptor_set(spec.schema_file, spec.protobuf_message)
            if spec.schema_file
            else None
        )
        return ProtobufFormat(max_bytes, framed, message, source)
    except ImportError as exc:
        raise ConfigError(f"{where}.format: {exc}") from exc
    except ValueError as exc:
        field = "schema_file" if spec.schema_file else "format"
        raise ConfigError(f"{where}.{field}: {exc}") from exc
