"""What every sink shares: one HTTP POST, how its outcome is classified, and backoff.

Outcomes follow what PagerDuty, Alertmanager and Slack document: 2xx is accepted; 408, 429 and
5xx, timeouts and connection errors are transient (retried with backoff, never dropped); any
other status is permanent (the notification goes to the dead-letter topic with the response).

>>> classify(202), classify(429), classify(503), classify(400), classify(None)
('accepted', 'transient', 'transient', 'permanent', 'transient')
"""

from __future__ import annotations

import http.client
import random
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal, Protocol

import orjson

from detector.alerts import AlertData
from detector.routing.notifications import Notification

Outcome = Literal["accepted", "transient", "permanent"]
_MAX_BODY = 4096  # bytes of a response kept for logs and dead letters
_MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True)
class Result:
    """One attempt: the outcome and the response (status None: no HTTP response at all)."""

    outcome: Outcome
    status: int | None
    body: str
    retry_after: float | None = None
    request: bytes = b""


class Sink(Protocol):
    """A destination. ``deliver`` must be idempotent per notification id (it may be retried)."""

    name: str

    def deliver(self, notification: Notification) -> Result: ...

    def refresh(self, firing: list[AlertData], now: float) -> Result | None:
        """Re-send the current firing alerts if this sink needs it (Alertmanager); else None."""
        ...


def classify(status: int | None) -> Outcome:
    if status is None or status == 408 or status == 429 or status >= 500:
        return "transient"
    if 200 <= status < 300:
        return "accepted"
    return "permanent"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def post_json(
    url: str, body: object, timeout: float, headers: dict[str, str] | None = None
) -> Result:
    """POST ``body`` as JSON; never raises for HTTP or network failures."""
    data = orjson.dumps(body)
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", "kafka-drift-detector-router")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read(_MAX_BODY).decode(errors="replace")
            return Result(classify(response.status), response.status, text, request=data)
    except urllib.error.HTTPError as exc:
        text = exc.read(_MAX_BODY).decode(errors="replace")
        retry = _retry_after(exc.headers.get("Retry-After"))
        return Result(classify(exc.code), exc.code, text, retry, data)
    except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        return Result("transient", None, f"{type(exc).__name__}: {exc}", request=data)


class Backoff:
    """Exponential backoff with jitter for one sink: the whole sink waits after a failure."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial, self.maximum = initial, maximum
        self.failures = 0
        self.until = 0.0
        self._rng = rng or random.Random()

    def ready(self, now: float) -> bool:
        return now >= self.until

    def failed(self, now: float, retry_after: float | None = None) -> float:
        """Record a transient failure; return the delay before the next attempt."""
        self.failures += 1
        delay = min(self.maximum, self.initial * 2.0 ** min(self.failures - 1, 30))
        delay = delay / 2 + self._rng.uniform(0, delay / 2)  # "equal jitter"
        delay = max(delay, retry_after or 0.0)
        self.until = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures, self.until = 0, 0.0
