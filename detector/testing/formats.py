"""Avro and Protobuf encodings of the synthetic streams, and a stand-in registry (tests, bench)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fastavro
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from detector.formats.wire import frame
from detector.testing.synthetic import SyntheticStream

F = descriptor_pb2.FieldDescriptorProto


def avro_schema(stream: SyntheticStream) -> dict[str, Any]:
    """The Avro schema of ``stream``'s events (features nullable: they may be missing)."""
    numeric = [
        {"name": n, "type": ["null", "double", "string"], "default": None} for n in stream.numeric
    ]
    categorical = [
        {"name": n, "type": ["null", "string"], "default": None} for n in stream.categorical
    ]
    return {
        "type": "record",
        "name": "Event",
        "namespace": "test.drift",
        "fields": [
            {"name": "event_id", "type": "string"},
            {"name": "ts", "type": "string"},
            {
                "name": "segment",
                "type": {
                    "type": "record",
                    "name": "Segment",
                    "fields": [{"name": n, "type": "string"} for n in stream.segments],
                },
            },
            {
                "name": "features",
                "type": {"type": "record", "name": "Features", "fields": numeric + categorical},
            },
            {
                "name": "prediction",
                "type": {
                    "type": "record",
                    "name": "Prediction",
                    "fields": [{"name": "score", "type": "double"}],
                },
            },
        ],
    }


def write_avsc(stream: SyntheticStream, path: Path) -> Path:
    path.write_text(json.dumps(avro_schema(stream)))
    return path


def avro_records(
    stream: SyntheticStream, events: list[dict[str, Any]], schema_id: int | None = 1
) -> list[bytes]:
    """``events`` as Avro binary, framed with ``schema_id`` (bare when None)."""
    parsed = fastavro.parse_schema(avro_schema(stream))
    out = []
    for event in events:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, event)
        payload = buffer.getvalue()
        out.append(payload if schema_id is None else frame(schema_id, payload))
    return out


def proto_file(stream: SyntheticStream) -> descriptor_pb2.FileDescriptorProto:
    """``stream``'s events as a proto3 file; features are ``optional`` (they may be missing)."""
    f = descriptor_pb2.FileDescriptorProto(
        name="events.proto", package="test.drift", syntax="proto3"
    )

    def add(
        message: descriptor_pb2.DescriptorProto,
        name: str,
        kind: int,
        number: int,
        optional: bool = False,
        type_name: str = "",
    ) -> None:
        field = message.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
        if type_name:
            field.type_name = type_name
        if optional:  # proto3 `optional`: a synthetic oneof gives presence
            field.proto3_optional = True
            field.oneof_index = len(message.oneof_decl)
            message.oneof_decl.add(name=f"_{name}")

    event = f.message_type.add(name="Event")
    segment = f.message_type.add(name="Segment")
    features = f.message_type.add(name="Features")
    prediction = f.message_type.add(name="Prediction")
    add(event, "event_id", F.TYPE_STRING, 1)
    add(event, "ts", F.TYPE_STRING, 2)
    add(event, "segment", F.TYPE_MESSAGE, 3, type_name=".test.drift.Segment")
    add(event, "features", F.TYPE_MESSAGE, 4, type_name=".test.drift.Features")
    add(event, "prediction", F.TYPE_MESSAGE, 5, type_name=".test.drift.Prediction")
    for i, name in enumerate(stream.segments, 1):
        add(segment, name, F.TYPE_STRING, i)
    number = 1
    for name in stream.numeric:
        add(features, name, F.TYPE_DOUBLE, number, optional=True)
        number += 1
    for name in stream.categorical:
        add(features, name, F.TYPE_STRING, number, optional=True)
        number += 1
    add(prediction, "score", F.TYPE_DOUBLE, 1)
    return f


def write_descriptor_set(stream: SyntheticStream, path: Path) -> Path:
    path.write_bytes(
        descriptor_pb2.FileDescriptorSet(file=[proto_file(stream)]).SerializeToString()
    )
    return path


def proto_records(
    stream: SyntheticStream, events: list[dict[str, Any]], schema_id: int | None = 1
) -> list[bytes]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto_file(stream))
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("test.drift.Event"))
    out = []
    for event in events:
        message = cls()
        message.event_id = event["event_id"]
        message.ts = event["ts"]
        for key, value in event["segment"].items():
            setattr(message.segment, key, value)
        for key, value in event["features"].items():
            setattr(message.features, key, value)
        message.prediction.score = event["prediction"]["score"]
        payload = message.SerializeToString()
        out.append(payload if schema_id is None else frame(schema_id, payload, [0]))
    return out


class Registry:
    """A stand-in for a Schema Registry's ``GET /schemas/ids/{id}`` (the only call a reader
    makes): ``schemas`` maps ids to (schema type, schema text); ``hits`` counts requests."""

    def __init__(self, schemas: dict[int, tuple[str, str]]) -> None:
        self.schemas = schemas
        self.hits = 0
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                registry.hits += 1
                parts = self.path.split("?")[0].strip("/").split("/")
                found = None
                if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                    found = registry.schemas.get(int(parts[2]))
                if found is None:
                    body = {"error_code": 40403, "message": "Schema not found"}
                    self._send(404, body)
                else:
                    self._send(200, {"schemaType": found[0], "schema": found[1]})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def serving(registry: Registry) -> Iterator[Registry]:
    thread = threading.Thread(target=registry.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield registry
    finally:
        registry.server.shutdown()
        registry.server.server_close()
