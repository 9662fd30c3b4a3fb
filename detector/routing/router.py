"""The loop behind ``drift-detector route``: consume alerts, group, checkpoint, deliver, commit.

Each turn: fold new alert records into their groups, advance the groups' timers (which may
create notifications), checkpoint, then give each sink the oldest notification it has not
taken. A sink that answers 429, 5xx or not at all backs off (exponentially, with jitter) and
is tried again with the same notification, forever; one that answers another 4xx gets the
notification dead-lettered with its response. Every accepted or dead-lettered delivery is
checkpointed at once, so a crash re-sends at most the one request that was in flight.

Offsets: a record's offset is committed (inside the checkpoint transaction) only once every
notification it contributed to has been taken by every sink of its route. After a restart the
router re-reads from there and skips the records its restored state already holds.

One router per alerts topic and config: it reads every partition (a group spans partitions)
without joining a consumer group; its transactional id fences any older instance.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from confluent_kafka import (
    OFFSET_STORED,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    Message,
    TopicPartition,
)
from pydantic import ValidationError

from detector.alerts import AlertData, AlertEvent
from detector.errors import KafkaBoundaryError
from detector.kafka.clients import create_client, describe_error
from detector.routing.config import GroupingConfig, RouterConfig
from detector.routing.dead_letters import DeadLetter, invalid_record, rejected_notification
from detector.routing.grouping import Group, group_values
from detector.routing.metrics import RouterMetrics, RouterReport
from detector.routing.silences import SilenceBook
from detector.routing.sinks import Backoff, Sink, build_sinks
from detector.routing.state import StateStore
from detector.routing.topics import CompactedReader, consumer_props, ensure_topics

log = logging.getLogger("detector.router")
POLL_SECONDS = 0.2
_PER_TURN = 50  # deliveries per sink per turn, so the loop keeps polling under a backlog


class Router:
    """Create, then :meth:`run` (blocking) until :meth:`stop`. ``clock`` is epoch seconds."""

    def __init__(
        self,
        config: RouterConfig,
        clock: Callable[[], float] = time.time,
        sinks: dict[str, Sink] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.sinks = sinks if sinks is not None else build_sinks(config)
        delivery = config.delivery
        self.backoffs = {
            n: Backoff(delivery.initial_backoff, delivery.max_backoff) for n in self.sinks
        }
        self.next_refresh = dict.fromkeys(self.sinks, 0.0)
        self.groups: dict[str, Group] = {}
        self.applied: dict[int, int] = {}
        self.silences = SilenceBook()
        self.metrics = RouterMetrics(config, self.sinks)
        self.report: RouterReport = self.metrics.report
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._saved: dict[str, int] = {}  # group key -> revision last written
        self._applied_dirty = False
        self._dead: list[DeadLetter] = []

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> RouterReport:
        topics = self.config.topics
        partitions = ensure_topics(self.config)[topics.alerts]
        store = StateStore(self.config)
        restored = store.restore()
        self.groups, self.applied = restored.groups, restored.applied
        self._saved = {k: g.revision for k, g in self.groups.items()}
        self.report.restored_groups = len(self.groups)
        self._forget_unknown_sinks()
        silences = CompactedReader(self.config, topics.silences, self.silences.update)
        consumer: Consumer | None = None
        try:
            silences.read_to_end()
            consumer = create_client(Consumer, consumer_props(self.config))
            consumer.assign(
                [TopicPartition(topics.alerts, p, OFFSET_STORED) for p in range(partitions)]
            )
            log.info(
                "routing %s (%d partitions), %d group(s) restored",
                topics.alerts,
                partitions,
                len(self.groups),
            )
            self.metrics.ready()
            self.ready.set()
            while not self._stop.is_set():
                records = consumer.consume(500, timeout=POLL_SECONDS)
                silences.poll()
                now = self.clock()
                for record in records:
                    self._ingest(record, now)
                self._tick(now)
                self._save(store, consumer)
                self._deliver(store, consumer)
                self._refresh()
                self.metrics.polled(self._pending())
        finally:
            self.metrics.stopped()
            silences.close()
            if consumer is not None:
                consumer.close()
            store.close()
        return self.report

    # --- alerts in --------------------------------------------------------------------------

    def _ingest(self, record: Message, now: float) -> None:
        err = record.error()
        if err is not None:
            if err.fatal():
                raise KafkaBoundaryError(f"fatal consumer error: {describe_error(err)}")
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error: %s", describe_error(err))
            return
        partition, offset = record.partition() or 0, record.offset() or 0
        if offset <= self.applied.get(partition, -1):
            self.report.skipped += 1  # already in the restored state
            return
        self.applied[partition] = offset
        self._applied_dirty = True
        try:
            alert = AlertEvent.model_validate_json(record.value() or b"").data
        except ValidationError as exc:
            self.report.invalid += 1
            self._dead.append(invalid_record(record, exc))
            return
        self.report.alerts += 1
        silenced = self.silences.silencing(alert, now) is not None
        if silenced:
            self.metrics.silenced()
        kind, millis = record.timestamp()  # when the detector wrote the alert
        written = millis / 1000.0 if kind != TIMESTAMP_NOT_AVAILABLE and millis > 0 else now
        targets = self._targets(alert)
        self.report.unrouted += not targets
        for group in targets:
            group.apply(alert, now, self._grouping(group), silenced, written)
            group.hold(partition, offset)
            self.metrics.grouped(group.route)

    def _targets(self, alert: AlertData) -> list[Group]:
        found: list[Group] = []
        for route in self.config.routes:
            if not route.match.matches(alert.model, alert.kind, alert.severity):
                continue
            values = group_values(alert, self.config.grouping_for(route).group_by)
            key = "/".join([route.name, *values])
            group = self.groups.get(key)
            if group is None and alert.status == "firing":
                group = Group(key, route.name, alert.model, alert.kind, list(route.sinks))
                self.groups[key] = group
            if group is not None:
                found.append(group)
            if not route.continue_:
                break
        if alert.status == "resolved":  # wherever the series is known, whatever the routes say
            found += [
                g for g in self.groups.values() if alert.dedup_key in g.members and g not in found
            ]
        return found

    def _grouping(self, group: Group) -> GroupingConfig:
        route = next((r for r in self.config.routes if r.name == group.route), None)
        return self.config.grouping_for(route) if route else self.config.grouping

    def _tick(self, now: float) -> None:
        def silenced(alert: AlertData) -> bool:
            return self.silences.silencing(alert, now) is not None

        for key, group in list(self.groups.items()):
            notification = group.tick(now, self._grouping(group), silenced)
            if notification is not None:
                self.report.notifications += 1
                log.info(
                    "notification %s %s (%s) %s: %d firing, %d resolved",
                    notification.id[:8],
                    notification.action,
                    notification.reason,
                    notification.incident_key,
                    len(notification.firing),
                    len(notification.resolved),
                )
            group.release()
            if not group.members and not group.outbox:
                del self.groups[key]

    # --- checkpoints ------------------------------------------------------------------------

    def _save(self, store: StateStore, consumer: Consumer) -> None:
        changed: dict[str, Group | None] = {
            k: g for k, g in self.groups.items() if self._saved.get(k) != g.revision
        }
        changed.update({k: None for k in self._saved if k not in self.groups})
        if not changed and not self._applied_dirty and not self._dead:
            return
        store.checkpoint(changed, self.applied, self._commit_offsets(), consumer, self._dead)
        self._saved = {k: g.revision for k, g in self.groups.items()}
        self._applied_dirty = False
        self._dead = []

    def _commit_offsets(self) -> list[TopicPartition]:
        topic = self.config.topics.alerts
        offsets = []
        for partition, last in self.applied.items():
            held = [g.holds[partition] for g in self.groups.values() if partition in g.holds]
            offsets.append(TopicPartition(topic, partition, min([last + 1, *held])))
        return offsets

    # --- delivery ---------------------------------------------------------------------------

    def _deliver(self, store: StateStore, consumer: Consumer) -> None:
        for name, sink in self.sinks.items():
            backoff = self.backoffs[name]
            for _ in range(_PER_TURN):
                if not backoff.ready(self.clock()):
                    break
                heads = [(n, g) for g in self.groups.values() if (n := g.head(name))]
                if not heads:
                    break
                notification, group = min(heads, key=lambda h: (h[0].created_at, h[1].key))
                result = sink.deliver(notification)
                if result.outcome == "transient":
                    delay = backoff.failed(self.clock(), result.retry_after)
                    self.metrics.retried(name)
                    log.warning(
                        "sink %s: %s (%s); retrying notification %s in %.2fs",
                        name,
                        result.status,
                        result.body[:200],
                        notification.id[:8],
                        delay,
                    )
                    break
                backoff.succeeded()
                if result.outcome == "permanent":
                    self.metrics.dead_lettered(name)
                    self._dead.append(rejected_notification(notification, name, result))
                    log.error("sink %s rejected %s: %s", name, notification.id[:8], result.status)
                else:
                    since = notification.alert_time
                    self.metrics.sent(name, None if since is None else self.clock() - since)
                group.delivered(notification, name)
                group.release()
                if not group.members and not group.outbox:
                    del self.groups[group.key]
                self._save(store, consumer)

    def _refresh(self) -> None:
        """Re-send firing alerts to sinks that forget them (Alertmanager's resolve_timeout)."""
        now = self.clock()
        for name, sink in self.sinks.items():
            interval = getattr(sink, "resend_interval", None)
            if interval is None or now < self.next_refresh[name]:
                continue
            if not self.backoffs[name].ready(now):
                continue
            self.next_refresh[name] = now + float(interval)
            unique = {
                a.dedup_key: a
                for g in self.groups.values()
                if name in g.sinks
                for a in g.firing_alerts()
            }
            firing = list(unique.values())
            result = sink.refresh(firing, now)
            if result is not None and result.outcome != "accepted":
                log.warning(
                    "sink %s: re-send of %d firing alert(s) failed: %s",
                    name,
                    len(firing),
                    result.status,
                )

    def _pending(self) -> Counter[str]:
        """Notifications each sink has yet to take."""
        return Counter(s for g in self.groups.values() for n in g.outbox for s in n.pending_sinks())

    def _forget_unknown_sinks(self) -> None:
        """Pending notifications for sinks no longer configured would wait forever: drop them."""
        for group in self.groups.values():
            for notification in list(group.outbox):
                for sink in notification.pending_sinks():
                    if sink not in self.sinks:
                        log.warning(
                            "sink %s is gone; dropping it from %s", sink, notification.id[:8]
                        )
                        group.delivered(notification, sink)
