"""Avro records: Avro binary, decoded by fastavro with the writer's schema.

The writer's schema comes from the registry (the record's schema id) or from an ``.avsc`` file.
Records become what fastavro reads: records are objects, unions their branch's value, enums
their symbol, logical types Python values (timestamps become RFC 3339 text, which ``event.time``
reads; decimals numbers; bytes base64 text).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from detector.formats.base import FormatError, RecordFormat, dumps
from detector.formats.registry import RegistrySchemas
from detector.formats.wire import split_frame


def _fastavro() -> Any:
    try:
        import fastavro
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "format avro needs fastavro: pip install 'kafka-drift-detector[avro]'"
        ) from exc
    return fastavro


def parse_avro_schema(text: str | bytes, where: str) -> Any:
    """A parsed Avro schema; ValueError naming ``where`` when it is not one."""
    try:
        return _fastavro().parse_schema(json.loads(text))
    except Exception as exc:
        raise ValueError(f"{where}: not an Avro schema: {exc}") from exc


def load_avsc(path: str | Path) -> Any:
    """The parsed schema of an ``.avsc`` file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_avro_schema(text, str(path))


class AvroFormat(RecordFormat):
    """Avro binary records: framed (Confluent wire format) or bare with a schema file."""

    name = "avro"
    is_json = False

    def __init__(
        self,
        max_bytes: int,
        framed: bool = True,
        schema: Any = None,
        registry: RegistrySchemas | None = None,
    ) -> None:
        super().__init__(max_bytes)
        if schema is None and registry is None:
            raise ValueError("avro needs a schema file or a schema registry")
        self.framed = framed
        self.schema = schema
        self.registry = registry
        self._schemas: dict[int, Any] = {}
        self._reader = _fastavro().schemaless_reader

    def writer_schema(self, schema_id: int) -> Any:
        """The parsed schema of ``schema_id`` (cached); a schema file answers every id."""
        if self.schema is not None:
            return self.schema
        found = self._schemas.get(schema_id)
        if found is not None:
            return found
        assert self.registry is not None
        schema = self.registry.fetch(schema_id)
        kind = (getattr(schema, "schema_type", None) or "AVRO").upper()
        if kind != "AVRO":
            raise FormatError("bad_schema", f"schema id {schema_id} is {kind}, not AVRO")
        try:
            parsed = parse_avro_schema(schema.schema_str, f"schema id {schema_id}")
        except ValueError as exc:
            raise FormatError("bad_schema", str(exc)) from exc
        self._schemas[schema_id] = parsed
        return parsed

    def decode(self, raw: bytes) -> Any:
        """The record in ``raw`` as Python values."""
        if self.framed:
            schema_id, payload = split_frame(raw)
            schema = self.writer_schema(schema_id)
        else:
            payload, schema = raw, self.schema
        stream = io.BytesIO(payload)
        try:
            record = self._reader(stream, schema, None)
        except (EOFError, StopIteration) as exc:
            raise FormatError("truncated", f"the Avro payload ends early ({exc!r})") from exc
        except Exception as exc:  # fastavro raises what its reader meets: bad varints, UTF-8
            raise FormatError("bad_payload", f"not Avro of its schema: {exc!r}") from exc
        left = len(payload) - stream.tell()
        if left:
            raise FormatError("bad_payload", f"{left} bytes left after the Avro record")
        return record

    def to_json(self, raw: bytes) -> bytes:
        return dumps(self.decode(raw))
