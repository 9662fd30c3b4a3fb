"""HTTP receivers on 127.0.0.1 shaped like the on-call services, for the router's tests.

:class:`Receiver` is a threaded ``http.server`` that records every JSON POST and answers what
the test asks: 202, a 503 outage, a 400, or a held request (to kill the router mid-delivery).
:func:`pagerduty_responder` answers as PagerDuty's Events API v2 does (:func:`pagerduty_v2_errors`
checks a body like it). :class:`SlackReceiver` answers as a Slack incoming webhook does
(``200 ok``, ``400 invalid_payload`` / ``no_text``, ``404 no_service``) and renders the text it
got the way Slack's mrkdwn reads it, so a test sees what a channel would show.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

SLACK_PATH = "/services/T000/B000/XXXX"  # an incoming webhook's path: its URL is the secret
_JSON = "application/json"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any
    status: int


Responder = Callable[[Request], int]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, killed router) is part of the scenarios: no trace."""


class Receiver:
    """An HTTP server recording JSON POSTs; ``respond`` picks each status (default 202)."""

    def __init__(self, respond: Responder | None = None) -> None:
        self.requests: list[Request] = []
        self.respond: Responder = respond or (lambda request: 202)
        self.hold = threading.Event()  # set: requests block until `release` is set
        self.release = threading.Event()
        self.held = threading.Event()  # set once a request is being held
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = orjson.loads(raw) if raw else None
                except orjson.JSONDecodeError:
                    body = raw.decode(errors="replace")
                request = Request(self.path, dict(self.headers.items()), body, 0)
                request.status = receiver.respond(request)
                with receiver._lock:
                    receiver.requests.append(request)
                if receiver.hold.is_set():
                    receiver.held.set()
                    receiver.release.wait(60)
                payload, content_type = receiver.reply(request)
                self.send_response(request.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def reply(self, request: Request) -> tuple[bytes, str]:
        """The response body and content type for ``request`` (PagerDuty's by default)."""
        if request.status >= 400:
            return (
                b'{"status":"invalid event","message":"rejected by the test"}',
                "application/json",
            )
        return b'{"status":"success","message":"Event processed"}', "application/json"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def accepted(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.status < 300 and path in (None, r.path)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Poll ``predicate`` until true or ``timeout`` seconds passed (never asserts time)."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()


_SLACK_ERRORS = {400: b"invalid_payload", 404: b"no_service"}
_SLACK_TOKEN = re.compile(r"<([^<>]*)>")
_SLACK_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def slack_responder(request: Request) -> int:
    """200 for ``{"text": "..."}`` on the webhook's path; 404 elsewhere; 400 for other bodies."""
    if request.path != SLACK_PATH:
        return 404
    body = request.body
    if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
        return 400
    return 200


def slack_render(text: str) -> tuple[str, list[str]]:
    """What a channel shows for mrkdwn ``text``, and the links and mentions Slack finds in it.

    ``<!channel>`` is a mention, ``<url|label>`` a link showing ``label``; entities are decoded
    only after the ``<...>`` tokens are found, so escaped text stays text.

    >>> slack_render("&lt;!here&gt; hi <!channel> <https://x.example?a=1&amp;b=2|Runbook>")
    ('<!here> hi @channel Runbook', ['!channel', 'https://x.example?a=1&b=2'])
    """
    found: list[str] = []

    def token(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        found.append(_decode(target))
        if target.startswith("!"):
            return "@" + target[1:]
        return _decode(label or target)

    return _decode(_SLACK_TOKEN.sub(token, text)), found


def _decode(text: str) -> str:
    for entity, char in _SLACK_ENTITIES:
        text = text.replace(entity, char)
    return text


class SlackReceiver(Receiver):
    """A Slack incoming webhook at ``url`` (``SLACK_PATH``): ``ok`` or Slack's error words."""

    def __init__(self, respond: Responder | None = None) -> None:
        super().__init__(respond or slack_responder)

    @property
    def webhook_url(self) -> str:
        return self.url + SLACK_PATH

    def reply(self, request: Request) -> tuple[bytes, str]:
        if request.status < 300:
            return b"ok", "text/plain"
        if isinstance(request.body, dict) and not request.body.get("text"):
            return b"no_text", "text/plain"
        return _SLACK_ERRORS.get(request.status, b"server_error"), "text/plain"


_PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
_PD_SEVERITIES = {"critical", "error", "warning", "info"}


def pagerduty_v2_errors(body: Any) -> list[str]:
    """What PagerDuty's Events API v2 would reject in ``body`` (empty list: valid)."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    errors = []
    if not isinstance(body.get("routing_key"), str) or not body["routing_key"]:
        errors.append("routing_key missing")
    action = body.get("event_action")
    if action not in _PD_ACTIONS:
        errors.append(f"event_action {action!r}")
    key = body.get("dedup_key")
    if action != "trigger" and not key:
        errors.append("dedup_key is required for acknowledge and resolve")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        errors.append("dedup_key must be a string of at most 255 characters")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "payload missing"]
        for name in ("summary", "source", "severity"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                errors.append(f"payload.{name} missing")
        if len(payload.get("summary") or "") > 1024:
            errors.append("payload.summary longer than 1024")
        if payload.get("severity") not in _PD_SEVERITIES:
            errors.append(f"payload.severity {payload.get('severity')!r}")
        for link in body.get("links") or []:
            if not isinstance(link, dict) or not str(link.get("href", "")).startswith("http"):
                errors.append(f"bad link {link!r}")
    if len(orjson.dumps(body)) > 512 * 1024:
        errors.append("larger than 512 KB")
    return errors


def pagerduty_responder(request: Request) -> int:
    """202 for a valid Events API v2 body on /v2/enqueue, 400 otherwise (as PagerDuty does)."""
    return 202 if request.path == "/v2/enqueue" and not pagerduty_v2_errors(request.body) else 400
