"""Silences: label matchers with an expiry, kept in a compacted topic every router reads.

A silence is written by ``drift-detector silence add`` and keyed by its id; ``expire`` rewrites
it with ``ends_at`` set to now. Matchers use Alertmanager's syntax on the alert labels
``alertname``, ``model``, ``kind``, ``feature``, ``segment``, ``severity`` and ``check``:
``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex`` (regexes match the whole
value). Any other label is refused: a misspelt one would silence nothing.

>>> m = parse_matcher("feature=~amount|mcc")
>>> m.matches({"feature": "mcc"}), m.matches({"feature": "mcc_code"})
(True, False)
>>> parse_matcher("segment=country=DE").value
'country=DE'
>>> parse_matcher("modle=fraud")  # doctest: +ELLIPSIS
Traceback (most recent call last):
detector.errors.ConfigError: --match modle=fraud: unknown label 'modle' (did you mean model?); ...
"""

from __future__ import annotations

import difflib
import re
import time
import uuid
from typing import Literal

import orjson
from confluent_kafka import Producer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from detector.alerts import AlertData, rfc3339
from detector.errors import ConfigError, DeliveryError
from detector.kafka.clients import create_client
from detector.routing.config import RouterKafkaConfig
from detector.routing.notifications import ALERT_LABELS, alert_labels
from detector.routing.topics import CompactedReader, producer_props

Op = Literal["=", "!=", "=~", "!~"]
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)(.*)$")


class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    op: Op
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (actual == self.value) == (self.op == "=")
        return (re.fullmatch(self.value, actual) is not None) == (self.op == "=~")

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


def parse_matcher(text: str) -> Matcher:
    """``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex``."""
    match = _MATCHER.match(text)
    if not match:
        raise ConfigError(f"--match: {text!r} is not name=value, name!=value, name=~re, name!~re")
    name, op, value = match.group(1), match.group(2), match.group(3).strip()
    if name not in ALERT_LABELS:
        close = difflib.get_close_matches(name, ALERT_LABELS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            f"--match {text}: unknown label {name!r}{hint}; the labels are "
            + ", ".join(ALERT_LABELS)
        )
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ConfigError(f"--match: bad regular expression {value!r}: {exc}") from exc
    return Matcher.model_validate({"name": name, "op": op, "value": value})


class Silence(BaseModel):
    """Alerts matching every matcher are not announced between ``starts_at`` and ``ends_at``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    matchers: list[Matcher] = Field(min_length=1)
    starts_at: float
    ends_at: float
    created_by: str
    comment: str

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def line(self, now: float) -> str:
        state = "active" if self.active(now) else ("pending" if now < self.starts_at else "expired")
        matchers = " ".join(str(m) for m in self.matchers)
        return (
            f"{self.id}  {state:7}  until {rfc3339(self.ends_at)}  {matchers}  "
            f"by {self.created_by}: {self.comment}"
        )


class SilenceBook:
    """The silences read so far (the latest version of each id)."""

    def __init__(self) -> None:
        self.silences: dict[str, Silence] = {}

    def update(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        if value is None:
            self.silences.pop(key.decode(), None)
            return
        try:
            silence = Silence.model_validate(orjson.loads(value))
        except (orjson.JSONDecodeError, ValidationError):
            return  # not ours; never let a bad record stop routing
        self.silences[silence.id] = silence

    def silencing(self, alert: AlertData, now: float) -> Silence | None:
        labels = alert_labels(alert)
        for silence in self.silences.values():
            if silence.active(now) and silence.matches(labels):
                return silence
        return None


def read_silences(config: RouterKafkaConfig) -> SilenceBook:
    book = SilenceBook()
    reader = CompactedReader(config, config.topics.silences, book.update)
    try:
        reader.read_to_end()
    finally:
        reader.close()
    return book


def publish(config: RouterKafkaConfig, silence: Silence) -> None:
    producer = create_client(Producer, producer_props(config))
    failures: list[str] = []
    producer.produce(
        config.topics.silences,
        key=silence.id.encode(),
        value=orjson.dumps(silence.model_dump(mode="json")),
        on_delivery=lambda err, msg: failures.append(str(err)) if err else None,
    )
    if producer.flush(30.0) or failures:
        raise DeliveryError(f"silence {silence.id} was not acknowledged: {failures[:1]}")


def add_silence(
    config: RouterKafkaConfig, matchers: list[str], duration: float, created_by: str, comment: str
) -> Silence:
    now = time.time()
    silence = Silence(
        id=uuid.uuid4().hex[:16],
        matchers=[parse_matcher(m) for m in matchers],
        starts_at=now,
        ends_at=now + duration,
        created_by=created_by,
        comment=comment,
    )
    publish(config, silence)
    return silence


def expire_silence(config: RouterKafkaConfig, silence_id: str) -> Silence:
    book = read_silences(config)
    if silence_id not in book.silences:
        raise ConfigError(f"silence {silence_id!r} not found in {config.topics.silences!r}")
    now = time.time()
    old = book.silences[silence_id]
    silence = old.model_copy(update={"ends_at": min(old.ends_at, now)})
    publish(config, silence)
    return silence
