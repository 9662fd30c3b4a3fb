"""Input formats: how a record's bytes become the JSON object the decoders read.

``event.format`` (and ``label.format``) picks one :class:`~detector.formats.base.RecordFormat`:

- ``json`` (the default): records are JSON text, read as they are;
- ``avro``: Avro binary, decoded with fastavro;
- ``protobuf``: Protobuf messages, decoded with the ``protobuf`` package.

Avro and Protobuf records come in the Confluent wire format (magic byte 0, a 4-byte big-endian
schema id, for Protobuf the message indexes, then the payload) and their schemas from a Schema
Registry (``schema_registry.url``), or from a local file (``schema.file``: an ``.avsc``, or a
Protobuf descriptor set). Each decoded record is written as JSON and goes through the JSON path,
so field paths, validation and rejections behave exactly as for JSON; a record that cannot be
decoded is rejected with one of the reasons in :mod:`detector.formats.base`.
"""

from __future__ import annotations

from detector.formats.base import FormatError, JsonFormat, RecordFormat, json_max_bytes
from detector.formats.factory import record_format

__all__ = ["FormatError", "JsonFormat", "RecordFormat", "json_max_bytes", "record_format"]
