"""librdkafka configuration for the worker's clients, built from the user's ``kafka:`` section.

The user's properties pass through unchanged, with two kinds of exception: properties that only
one client understands are kept away from the other (librdkafka warns about them otherwise), and
the settings our delivery guarantee depends on are forced, since a user override would silently
break at-least-once:

- consumer: ``enable.auto.commit=false`` and ``enable.auto.offset.store=false`` (the worker
  commits offsets itself, after the state snapshots and alerts they cover, see
  :mod:`detector.kafka.commits`), ``enable.partition.eof=true`` (for ``--until-end``);
- producer: ``enable.idempotence=true`` and ``acks=all`` (librdkafka defaults to no idempotence).

``auto.offset.reset`` defaults to ``earliest`` so a new consumer group starts from the oldest
retained event; set ``latest`` to watch only new traffic.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException

from detector.config import Config
from detector.errors import ConfigError, KafkaBoundaryError

Props = dict[str, str | int | float | bool]
T = TypeVar("T")
log = logging.getLogger("detector.kafka")
librdkafka_log = logging.getLogger("detector.kafka.librdkafka")

CONSUMER_ONLY_PREFIXES = (
    "group.",
    "auto.offset.reset",
    "enable.auto.",
    "auto.commit.",
    "isolation.level",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "fetch.",
    "max.partition.fetch.bytes",
    "queued.",
    "enable.partition.eof",
    "check.crcs",
)
PRODUCER_ONLY_PREFIXES = (
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "transactional.id",
    "transaction.timeout.ms",
    "linger.ms",
    "queue.buffering.",
    "batch.",
    "compression.",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "retries",
    "message.send.max.retries",
    "retry.backoff.",
    "sticky.partitioning.",
    "partitioner",
)


def _without(props: Props, prefixes: tuple[str, ...]) -> Props:
    return {k: v for k, v in props.items() if not k.startswith(prefixes)}


def consumer_config(config: Config) -> Props:
    """Properties for the events consumer."""
    if "group.id" not in config.kafka:
        raise ConfigError("kafka.group.id: required, the consumer group of the workers")
    if "bootstrap.servers" not in config.kafka:
        raise ConfigError("kafka.bootstrap.servers: required")
    props: Props = {"auto.offset.reset": "earliest"}
    props.update(_without(config.kafka, PRODUCER_ONLY_PREFIXES))
    props.update(
        {
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
        }
    )
    return props


def producer_config(config: Config) -> Props:
    """Properties for the producer of alerts and dead letters."""
    props: Props = {"linger.ms": 5, "compression.type": "lz4"}
    props.update(_without(config.kafka, CONSUMER_ONLY_PREFIXES))
    props.update({"enable.idempotence": True, "acks": "all"})
    return props


def admin_config(config: Config) -> Props:
    """Properties for the admin client (topic checks and creation)."""
    return _without(config.kafka, CONSUMER_ONLY_PREFIXES + PRODUCER_ONLY_PREFIXES)


SUMMARY_SECONDS = 60.0  # repeated connection errors are summarised at most this often
_TRANSPORT_ERRORS = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError._SSL,
        KafkaError._AUTHENTICATION,
    }
)


class ConnectionErrors:
    """Condenses one cluster's repeated connection errors into few log lines.

    Without it librdkafka prints a ``FAIL`` line per connection attempt, about twenty a second
    while no broker answers, hundreds before the clear error that ends the command. Here the
    first one is logged once, with the bootstrap servers and what to check; repeats are counted
    and summarised at most every ``interval`` seconds. An error after ``interval`` seconds
    without one starts a new outage (logged in full again). Shared by every client of the
    process that uses the same bootstrap servers; callbacks may come from several threads.
    """

    def __init__(
        self,
        servers: str,
        interval: float = SUMMARY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.servers = servers
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None  # time of the latest error
        self._summarised = 0.0  # time of the first line or of the latest summary
        self.repeats = 0  # errors since then
        self._latest = ""

    def failed(self, text: str, count: bool = True) -> None:
        """One connection error (librdkafka's text); ``count=False`` for a second report of the
        same event (its error_cb twin of a ``FAIL`` log line)."""
        with self._lock:
            now = self._clock()
            first = self._last is None or now - self._last > self.interval
            self._last = now
            if first:
                self._summarised, self.repeats = now, 0
                log.error(
                    "cannot connect to Kafka at %s: %s. Check that a broker listens there and "
                    "that kafka.bootstrap.servers and the security settings (security.protocol, "
                    "ssl.*, sasl.*) match its listener; still trying, repeats are summarised "
                    "every %.0fs",
                    self.servers,
                    text,
                    self.interval,
                    extra={"bootstrap_servers": self.servers},
                )
                return
            if count:
                self.repeats += 1
                self._latest = text
            if self.repeats and now - self._summarised >= self.interval:
                log.warning(
                    "still cannot connect to Kafka at %s: %d more connection errors in %.0fs "
                    "(latest: %s)",
                    self.servers,
                    self.repeats,
                    now - self._summarised,
                    self._latest,
                    extra={"bootstrap_servers": self.servers, "repeats": self.repeats},
                )
                self._summarised, self.repeats = now, 0


_THREAD = re.compile(r"^\[thrd:[^\]]*\]: ")  # librdkafka's thread name before a message
_connection_errors: dict[str, ConnectionErrors] = {}
_registry_lock = threading.Lock()


def connection_errors(servers: str) -> ConnectionErrors:
    """The process-wide :class:`ConnectionErrors` of one cluster (by bootstrap servers)."""
    with _registry_lock:
        found = _connection_errors.get(servers)
        if found is None:
            found = _connection_errors[servers] = ConnectionErrors(servers)
        return found


class LibrdkafkaLog:
    """librdkafka's log lines (the client's ``logger``) into Python logging: connection
    failures (facility ``FAIL``) go to :class:`ConnectionErrors`, the rest to the logger
    ``detector.kafka.librdkafka`` at their level. confluent-kafka delivers them, like
    ``error_cb``, from the client's poll, consume and flush calls."""

    def __init__(self, errors: ConnectionErrors) -> None:
        self.errors = errors

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        facility = args[0] if args else ""
        if facility == "FAIL" and len(args) == 3:
            self.errors.failed(_THREAD.sub("", str(args[2])))
            return
        librdkafka_log.log(level, msg, *args)


def _error_callback(
    errors: ConnectionErrors, chained: Callable[[KafkaError], None] | None
) -> Callable[[KafkaError], None]:
    def on_error(err: KafkaError) -> None:
        if err.code() in _TRANSPORT_ERRORS:
            errors.failed(err.str(), count=False)  # its FAIL log line was counted
        elif err.fatal():
            log.error("Kafka client: fatal error %s", describe_error(err))
        else:
            log.warning("Kafka client: %s", describe_error(err))
        if chained is not None:
            chained(err)

    return on_error


def create_client(factory: Callable[[Props], T], props: Props) -> T:
    """Instantiate a confluent-kafka client; a rejected property becomes a ConfigError.

    librdkafka's logs and errors go through :class:`LibrdkafkaLog` and :func:`_error_callback`
    (an ``error_cb`` in ``props`` still runs), so an unreachable cluster is one clear line,
    not hundreds."""
    servers = str(props.get("bootstrap.servers") or props.get("metadata.broker.list") or "?")
    errors = connection_errors(servers)
    chained: Any = props.get("error_cb")
    full: dict[str, Any] = {
        **props,
        "logger": LibrdkafkaLog(errors),
        "error_cb": _error_callback(errors, chained),
    }
    try:
        return factory(full)
    except (KafkaException, ValueError, TypeError) as exc:
        raise ConfigError(f"kafka: librdkafka rejected the configuration: {exc}") from exc


def produce(producer: Any, topic: str, **record: Any) -> None:
    """Produce one record. While librdkafka's queue is full (brokers slow or away), wait for it
    to drain instead of failing: the loop slows down to what the cluster takes."""
    while True:
        try:
            producer.produce(topic, **record)
            return
        except BufferError:
            producer.poll(0.1)


def describe_error(err: Any) -> str:
    """A short text for a confluent_kafka.KafkaError."""
    return f"{err.name()}: {err.str()}"


def list_topics(admin: Any, kafka: Props, timeout: float) -> dict[str, Any]:
    """The cluster's topics (name -> metadata); an unreachable cluster is a KafkaBoundaryError.

    Asked in steps of at most a second until ``timeout``, with the client polled in between,
    so the (condensed) connection error is logged as it happens rather than at the end."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            topics = dict(admin.list_topics(timeout=max(min(remaining, 1.0), 0.001)).topics)
        except KafkaException as exc:
            admin.poll(0)  # deliver librdkafka's logs and errors
            err = exc.args[0]
            if err.code() in _RETRY_METADATA and deadline - time.monotonic() > 0:
                continue
            raise KafkaBoundaryError(
                f"cannot read topic metadata from {kafka.get('bootstrap.servers')} within "
                f"{timeout:g}s: {describe_error(err)}"
            ) from exc
        admin.poll(0)
        return topics


_RETRY_METADATA = frozenset({KafkaError._TRANSPORT, KafkaError._TIMED_OUT})
