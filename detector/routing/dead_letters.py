"""Dead letters of the router, in the style of Kafka Connect's dead-letter queue.

- ``sink_rejected``: a sink answered a permanent error (4xx other than 408/429). The value holds
  the sink, the HTTP status, the response body, the request (PagerDuty's routing key redacted)
  and the notification; headers ``drift.errors.class``, ``drift.errors.message``, ``drift.sink``
  and ``drift.http.status``.
- ``not_alert``: a record on the alerts topic that is not an alert CloudEvent, kept as it was
  with the origin headers ``drift.errors.topic`` / ``partition`` / ``offset``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Message
from pydantic import ValidationError

from detector.routing.notifications import Notification
from detector.routing.sinks.base import Result


@dataclass
class DeadLetter:
    key: bytes
    value: bytes
    headers: list[tuple[str, str | bytes | None]]


def _redacted(request: bytes) -> Any:
    try:
        body = orjson.loads(request)
    except orjson.JSONDecodeError:
        return request.decode(errors="replace")
    if isinstance(body, dict) and "routing_key" in body:
        body["routing_key"] = "<redacted>"
    return body


def rejected_notification(notification: Notification, sink: str, result: Result) -> DeadLetter:
    value = {
        "sink": sink,
        "status": result.status,
        "response": result.body,
        "request": _redacted(result.request),
        "notification": notification.to_json(),
    }
    message = f"{sink} answered {result.status}: {result.body[:300]}"
    return DeadLetter(
        key=notification.incident_key.encode(),
        value=orjson.dumps(value),
        headers=[
            ("drift.errors.class", b"sink_rejected"),
            ("drift.errors.message", message.encode()),
            ("drift.sink", sink.encode()),
            ("drift.http.status", str(result.status).encode()),
        ],
    )


def invalid_record(record: Message, exc: ValidationError) -> DeadLetter:
    return DeadLetter(
        key=record.key() or b"",
        value=record.value() or b"",
        headers=[
            ("drift.errors.topic", (record.topic() or "").encode()),
            ("drift.errors.partition", str(record.partition()).encode()),
            ("drift.errors.offset", str(record.offset()).encode()),
            ("drift.errors.class", b"not_alert"),
            ("drift.errors.message", str(exc).splitlines()[0].encode()),
        ],
    )
