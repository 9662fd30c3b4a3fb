"""Schemas from a Schema Registry (confluent-kafka's client), cached, with reasons for failures.

The client caches the schemas it fetched by id; this wrapper adds what a stream needs around
it: an id the registry does not know is remembered for a while (every record of an unknown
producer would otherwise ask again), and after an outage further records are rejected at once
for a few seconds instead of each waiting for the client's timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from detector.config import redact
from detector.formats.base import FormatError

UNKNOWN_TTL = 60.0  # seconds an unknown schema id is answered from memory
OUTAGE_BACKOFF = 5.0  # seconds records are rejected at once after the registry failed
_NOT_FOUND = {40401, 40403, 40402}  # subject, schema, version not found (Confluent error codes)


class RegistrySchemas:
    """Fetches schemas by id. ``conf``: the ``schema_registry`` section (``url`` and the
    client's other settings, e.g. ``basic.auth.user.info``), passed to the client as is."""

    def __init__(
        self, conf: Mapping[str, Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        try:
            from confluent_kafka.schema_registry import SchemaRegistryClient
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                "schema_registry needs confluent-kafka's Schema Registry client: "
                "pip install 'kafka-drift-detector[avro]' (or [protobuf])"
            ) from exc
        self.client = SchemaRegistryClient(dict(conf))
        self.url = str(conf.get("url", ""))
        self._clock = clock
        self._unknown: dict[int, tuple[float, str]] = {}
        self._down_until = 0.0
        self._down_reason = ""

    def fetch(self, schema_id: int, serialized: bool = False) -> Any:
        """The registry's :class:`confluent_kafka.schema_registry.Schema` for ``schema_id``
        (Protobuf: ``serialized`` asks for the descriptor, base64, instead of .proto text)."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        now = self._clock()
        known = self._unknown.get(schema_id)
        if known is not None and known[0] > now:
            raise FormatError("unknown_schema", known[1])
        if now < self._down_until:
            raise FormatError("registry_unavailable", self._down_reason)
        try:
            return self.client.get_schema(schema_id, fmt="serialized" if serialized else None)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404 or exc.error_code in _NOT_FOUND:
                message = f"schema id {schema_id} is not in the registry ({exc.error_message})"
                self._unknown[schema_id] = (now + UNKNOWN_TTL, message[:500])
                raise FormatError("unknown_schema", message) from exc
            self._outage(now, f"HTTP {exc.http_status_code}: {exc.error_message}")
        except Exception as exc:  # connection refused, timeout, TLS: the registry is not there
            self._outage(now, f"{type(exc).__name__}: {exc}")
        raise AssertionError("unreachable")  # pragma: no cover

    def reference(self, subject: str, version: int, serialized: bool = False) -> Any:
        """A referenced schema (an import of a Protobuf schema, a named Avro type)."""
        try:
            fmt = "serialized" if serialized else None
            return self.client.get_version(subject, version, fmt=fmt).schema
        except Exception as exc:
            self._outage(self._clock(), f"reference {subject} v{version}: {exc}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _outage(self, now: float, why: str) -> None:
        self._down_until = now + OUTAGE_BACKOFF
        self._down_reason = redact(f"schema registry {self.url} unavailable: {why}")[:500]
        raise FormatError("registry_unavailable", self._down_reason)
