"""The router's operational state: counters, delivery latency, liveness and readiness.

The router thread calls the hooks (cheap, never raising); the HTTP server's threads read a
consistent copy with :meth:`RouterMetrics.snapshot`, :meth:`RouterMetrics.health` and
:meth:`RouterMetrics.readiness`. The hooks also keep the run's totals (:class:`RouterReport`,
printed on exit), so each event is counted in one place.

Liveness means the poll loop turns: its last turn is at most ``metrics.liveness_timeout``
seconds old (by default the consumer's ``max.poll.interval.ms``, as for the detector). A turn
includes the HTTP requests of its deliveries, so a sink that accepts but answers slower than
that makes the router count as stuck. Readiness means alive, the alerts topic assigned and the
state and silences restored.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from detector.observability.metrics import liveness_timeout
from detector.routing.config import RouterConfig

# Alert time to delivery includes group_wait (30 s) and flap_window (10 m) by design, and a
# sink outage: the buckets reach from a second to a day.
LATENCY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 86400.0)


@dataclass
class RouterReport:
    """Totals of one ``route`` run, printed on exit."""

    alerts: int = 0
    skipped: int = 0
    invalid: int = 0
    unrouted: int = 0
    silenced: int = 0
    notifications: int = 0
    restored_groups: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the counters for one scrape."""

    sent: dict[str, int]
    retried: dict[str, int]
    dead_lettered: dict[str, int]
    grouped: dict[str, int]
    silenced: int
    latency_buckets: dict[str, tuple[int, ...]]  # cumulative, per LATENCY_BUCKETS bound
    latency_sum: dict[str, float]
    latency_count: dict[str, int]
    pending: dict[str, int]
    last_poll_time: float


class RouterMetrics:
    """Hooks for :class:`detector.routing.router.Router`; sink and route names are the only
    labels (bounded by the config), never ids or alert values."""

    def __init__(
        self,
        config: RouterConfig,
        sinks: Iterable[str],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.report = RouterReport()
        self.sinks = sorted(sinks)
        self.routes = [r.name for r in config.routes]
        self.liveness_timeout = liveness_timeout(config)
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._grouped: Counter[str] = Counter()
        self._buckets = {s: [0] * len(LATENCY_BUCKETS) for s in self.sinks}
        self._latency_sum: dict[str, float] = dict.fromkeys(self.sinks, 0.0)
        self._latency_count: Counter[str] = Counter()
        self._pending: dict[str, int] = dict.fromkeys(self.sinks, 0)
        self._last_poll, self._last_poll_wall = clock(), wall()  # starting up counts as alive
        self._ready = False
        self._stopped = False

    # --- hooks called by the router thread ----------------------------------------------------

    def polled(self, pending: dict[str, int]) -> None:
        """One turn of the poll loop; ``pending``: notifications each sink has yet to take."""
        with self._lock:
            self._last_poll, self._last_poll_wall = self._clock(), self._wall()
            self._pending = {s: pending.get(s, 0) for s in self.sinks}

    def ready(self) -> None:
        """The alerts topic is assigned and the state and silences are restored."""
        with self._lock:
            self._ready = True

    def stopped(self) -> None:
        """The poll loop has ended: the router is no longer alive or ready."""
        with self._lock:
            self._ready, self._stopped = False, True

    def grouped(self, route: str) -> None:
        """An alert was folded into a group of ``route``."""
        with self._lock:
            self._grouped[route] += 1

    def silenced(self) -> None:
        """An alert matched an active silence."""
        with self._lock:
            self.report.silenced += 1

    def sent(self, sink: str, latency: float | None) -> None:
        """``sink`` accepted a notification; ``latency``: seconds since its alert (if any)."""
        with self._lock:
            self.report.delivered[sink] += 1
            if latency is None:  # a repeat: no alert made it
                return
            latency = max(0.0, latency)  # the detector's and the router's clocks may disagree
            index = bisect.bisect_left(LATENCY_BUCKETS, latency)
            if index < len(LATENCY_BUCKETS):
                self._buckets[sink][index] += 1
            self._latency_sum[sink] += latency
            self._latency_count[sink] += 1

    def retried(self, sink: str) -> None:
        """A transient failure (429, 5xx, timeout): the same notification will be tried again."""
        with self._lock:
            self.report.retries[sink] += 1

    def dead_lettered(self, sink: str) -> None:
        """``sink`` rejected a notification for good; it went to the dead-letter topic."""
        with self._lock:
            self.report.dead_letters[sink] += 1

    # --- readers ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._lock:
            report = self.report
            cumulative: dict[str, tuple[int, ...]] = {}
            for sink, counts in self._buckets.items():
                total, running = [], 0
                for count in counts:
                    running += count
                    total.append(running)
                cumulative[sink] = tuple(total)
            return Snapshot(
                sent={s: report.delivered[s] for s in self.sinks},
                retried={s: report.retries[s] for s in self.sinks},
                dead_lettered={s: report.dead_letters[s] for s in self.sinks},
                grouped={r: self._grouped[r] for r in self.routes},
                silenced=report.silenced,
                latency_buckets=cumulative,
                latency_sum={s: self._latency_sum[s] for s in self.sinks},
                latency_count={s: self._latency_count[s] for s in self.sinks},
                pending=dict(self._pending),
                last_poll_time=self._last_poll_wall,
            )

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Liveness: the poll loop turned within ``liveness_timeout`` and has not ended."""
        with self._lock:
            age, stopped = max(0.0, self._clock() - self._last_poll), self._stopped
        alive = not stopped and age <= self.liveness_timeout
        return alive, {
            "status": "ok" if alive else ("stopped" if stopped else "stuck"),
            "last_poll_age_seconds": round(age, 3),
            "liveness_timeout_seconds": self.liveness_timeout,
        }

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Readiness: alive, the alerts topic assigned, state and silences restored."""
        alive, detail = self.health()
        with self._lock:
            ready = alive and self._ready
        status = "ok" if ready else (detail["status"] if not alive else "restoring state")
        return ready, {**detail, "status": status}
