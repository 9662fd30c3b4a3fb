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

from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import KafkaException

from detector.config import Config
from detector.errors import ConfigError, KafkaBoundaryError

Props = dict[str, str | int | float | bool]
T = TypeVar("T")

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


def create_client(factory: Callable[[Props], T], props: Props) -> T:
    """Instantiate a confluent-kafka client; a rejected property becomes a ConfigError."""
    try:
        return factory(props)
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
    """The cluster's topics (name -> metadata); an unreachable cluster is a KafkaBoundaryError."""
    try:
        return dict(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise KafkaBoundaryError(
            f"cannot read topic metadata from {kafka.get('bootstrap.servers')}: "
            f"{describe_error(exc.args[0])}"
        ) from exc
