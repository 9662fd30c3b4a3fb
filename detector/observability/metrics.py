"""The Kafka worker's operational state: counters, lag, liveness and readiness.

The worker calls these hooks from its own thread: :meth:`WorkerMetrics.batch` once per
micro-batch (never per event), :meth:`WorkerMetrics.polled` once per poll-loop turn (a clock read;
consumer lag is refreshed at most every ``LAG_INTERVAL`` seconds, from librdkafka's cached
watermarks, without a broker round trip). The HTTP server reads a consistent copy with
:meth:`WorkerMetrics.snapshot` from its own threads.

Liveness means the poll loop turns: the last poll is at most ``metrics.liveness_timeout`` seconds
old (by default the consumer's ``max.poll.interval.ms``, after which the broker evicts a member
anyway). Readiness means partitions are assigned and their state restored; per-series state is
in memory only for now, so "restored" is "assigned".
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException, TopicPartition

from detector.config import Config

if TYPE_CHECKING:
    from detector.routing.config import RouterConfig

LAG_INTERVAL = 1.0  # seconds between consumer-lag refreshes
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DEFAULT_MAX_POLL_INTERVAL_MS = 300_000  # librdkafka's default for max.poll.interval.ms


def liveness_timeout(config: Config | RouterConfig) -> float:
    """Seconds without a poll after which the worker (or the router) counts as stuck.

    >>> from detector.testing.synthetic import SyntheticStream, config_dict
    >>> from detector.config import parse_config
    >>> cfg = config_dict(SyntheticStream(numeric=["x"]), "m", {"events": "e", "alerts": "a",
    ...                   "dead_letter": "d"})
    >>> liveness_timeout(parse_config(cfg))
    300.0
    >>> cfg["kafka"] = {"max.poll.interval.ms": 60000}
    >>> liveness_timeout(parse_config(cfg))
    60.0
    """
    if config.metrics.liveness_timeout is not None:
        return config.metrics.liveness_timeout
    value = config.kafka.get("max.poll.interval.ms", DEFAULT_MAX_POLL_INTERVAL_MS)
    try:
        return float(value) / 1000.0
    except ValueError:
        return DEFAULT_MAX_POLL_INTERVAL_MS / 1000.0


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the worker's state for one scrape or health check."""

    records: int
    dead_letters: dict[str, int]
    errors: dict[tuple[str, str], int]
    alerts: dict[tuple[str, str, str], int]
    rebalances: dict[str, int]
    batch_buckets: tuple[int, ...]
    batch_sum: float
    batch_count: int
    lag: dict[int, int]
    assigned: frozenset[int]
    last_event_time: float | None
    last_batch_time: float | None
    last_poll_time: float
    poll_age: float
    running: bool
    stopped: bool
    ends: dict[int, int] = field(default_factory=dict)
    positions: dict[int, int] = field(default_factory=dict)
    enforced: int = 0
    waiting_rows: int = 0
    units_reset: int = 0
    discarded_units: int = 0


class WorkerMetrics:
    """Hooks for :class:`detector.kafka.worker.Worker`; all cheap, none raise."""

    def __init__(
        self,
        config: Config,
        engine: Any = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine  # the worker's Engine, whose series the collectors read
        self.model = config.model
        self.topic = config.kafka_topics.events
        self.liveness_timeout = liveness_timeout(config)
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._records = 0
        self._dead_letters: Counter[str] = Counter()
        self._errors: Counter[tuple[str, str]] = Counter()
        self._alerts: Counter[tuple[str, str, str]] = Counter()
        self._rebalances: Counter[str] = Counter()
        self._buckets = [0] * len(BATCH_BUCKETS)
        self._batch_sum = 0.0
        self._batch_count = 0
        self._lag: dict[int, int] = {}
        self._assigned: frozenset[int] = frozenset()
        self._ends: dict[int, int] = {}
        self._positions: dict[int, int] = {}
        self._last_event_time: float | None = None
        self._last_batch_time: float | None = None
        self._last_poll = clock()  # starting up counts as alive
        self._last_poll_wall = wall()
        self._lag_due = 0.0
        self._restoring = False
        self._running = False
        self._stopped = False
        self._order = (0, 0, 0, 0)  # enforced, waiting rows, units reset, discarded snapshots

    # --- hooks called by the worker thread ----------------------------------------------------

    def started(self, ends: dict[int, int]) -> None:
        """The poll loop is about to start; ``ends`` are the --until-end targets (or empty)."""
        with self._lock:
            self._running, self._ends = True, dict(ends)
            self._last_poll, self._last_poll_wall = self._clock(), self._wall()

    def stopped(self) -> None:
        """The poll loop has ended (normally or not): the worker is no longer alive or ready."""
        with self._lock:
            self._running, self._stopped = False, True
            self._assigned = frozenset()
            self._lag.clear()

    def polled(
        self,
        read: Callable[[list[int]], dict[int, tuple[int, int]]] | None,
        assigned: Iterable[int],
    ) -> None:
        """One turn of the poll loop; every ``LAG_INTERVAL`` seconds refreshes consumer lag from
        ``read`` (partitions -> (position, high watermark), -1 where unknown: for the worker,
        :meth:`detector.kafka.consumer.GroupConsumer.positions`)."""
        now = self._clock()
        self._last_poll, self._last_poll_wall = now, self._wall()
        if now < self._lag_due or read is None:
            return
        self._lag_due = now + LAG_INTERVAL
        lag = self._read_lag(read, sorted(assigned))
        with self._lock:
            self._lag = lag

    def assigned(self, partitions: Iterable[int]) -> None:
        """The consumer's assignment grew to ``partitions`` (all currently assigned)."""
        with self._lock:
            self._assigned = frozenset(partitions)
            self._rebalances["assign"] += 1

    def restoring(self, active: bool) -> None:
        """State is being read back from the changelog: not ready until it is done."""
        with self._lock:
            self._restoring = active

    def revoked(self, partitions: Iterable[int]) -> None:
        """The consumer's assignment shrank to ``partitions`` (all still assigned)."""
        with self._lock:
            self._assigned = frozenset(partitions)
            self._rebalances["revoke"] += 1
            self._lag = {p: n for p, n in self._lag.items() if p in self._assigned}

    def error(self, stage: str, kind: str) -> None:
        """A Kafka error at ``stage`` (``consume`` or ``produce``), ``kind`` = its error name."""
        with self._lock:
            self._errors[(stage, kind)] += 1

    def batch(
        self,
        records: int,
        offsets: Sequence[TopicPartition],
        alerts: Iterable[tuple[str, str, str]],
        rejections: Iterable[str],
        last_event_time: float | None,
        seconds: float,
    ) -> None:
        """One processed micro-batch: its size, next offsets, alerts (kind, severity, status),
        dead-letter reasons, newest event time and processing time."""
        with self._lock:
            self._records += records
            self._dead_letters.update(rejections)
            self._alerts.update(alerts)
            index = bisect.bisect_left(BATCH_BUCKETS, seconds)
            if index < len(self._buckets):
                self._buckets[index] += 1
            self._batch_sum += seconds
            self._batch_count += 1
            for tp in offsets:
                self._positions[tp.partition] = tp.offset
            if last_event_time is not None and (
                self._last_event_time is None or last_event_time > self._last_event_time
            ):
                self._last_event_time = last_event_time
            self._last_batch_time = self._wall()

    def order(self, enforced: int, waiting: int, units_reset: int, discarded: int) -> None:
        """Once a loop turn: merges passed a source behind (total), rows the fullest merge
        holds back, units replaced after a failed update, snapshots discarded (totals)."""
        with self._lock:
            self._order = (enforced, waiting, units_reset, discarded)

    def alerts(self, alerts: Iterable[tuple[str, str, str]]) -> None:
        """Alerts produced (kind, severity, status) by the units this worker owns."""
        with self._lock:
            self._alerts.update(alerts)

    # --- readers ------------------------------------------------------------------------------

    def _read_lag(
        self, read: Callable[[list[int]], dict[int, tuple[int, int]]], partitions: list[int]
    ) -> dict[int, int]:
        """High watermark minus position per assigned partition, where both are known (an
        unknown position falls back to the last batch's)."""
        if not partitions:
            return {}
        lag: dict[int, int] = {}
        try:
            for partition, (position, high) in read(partitions).items():
                if position < 0:
                    position = self._positions.get(partition, -1)
                if position >= 0 and high >= 0:
                    lag[partition] = max(0, high - position)
        except (KafkaException, RuntimeError) as exc:
            kind = exc.args[0].name() if exc.args and hasattr(exc.args[0], "name") else "lag"
            self.error("lag", str(kind))
        return lag

    def snapshot(self) -> Snapshot:
        """A consistent copy of the state (for one scrape, health check or progress line)."""
        with self._lock:
            buckets, running_total = [], 0
            for count in self._buckets:
                running_total += count
                buckets.append(running_total)
            return Snapshot(
                records=self._records,
                dead_letters=dict(self._dead_letters),
                errors=dict(self._errors),
                alerts=dict(self._alerts),
                rebalances=dict(self._rebalances),
                batch_buckets=tuple(buckets),
                batch_sum=self._batch_sum,
                batch_count=self._batch_count,
                lag=dict(self._lag),
                assigned=self._assigned,
                last_event_time=self._last_event_time,
                last_batch_time=self._last_batch_time,
                last_poll_time=self._last_poll_wall,
                poll_age=max(0.0, self._clock() - self._last_poll),
                running=self._running,
                stopped=self._stopped,
                ends=dict(self._ends),
                positions=dict(self._positions),
                enforced=self._order[0],
                waiting_rows=self._order[1],
                units_reset=self._order[2],
                discarded_units=self._order[3],
            )

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Liveness: the poll loop has turned within ``liveness_timeout`` and has not ended."""
        snap = self.snapshot()
        alive = not snap.stopped and snap.poll_age <= self.liveness_timeout
        return alive, {
            "status": "ok" if alive else ("stopped" if snap.stopped else "stuck"),
            "last_poll_age_seconds": round(snap.poll_age, 3),
            "liveness_timeout_seconds": self.liveness_timeout,
        }

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Readiness: alive, with partitions assigned and their state restored."""
        alive, detail = self.health()
        snap = self.snapshot()
        restoring = self._restoring
        ready = alive and snap.running and bool(snap.assigned) and not restoring
        waiting = "restoring state" if restoring else "no partitions assigned"
        detail = {
            **detail,
            "status": "ok" if ready else (waiting if alive else detail["status"]),
            "assigned_partitions": sorted(snap.assigned),
        }
        return ready, detail
