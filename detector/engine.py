"""The detection engine of one thread: decoded micro-batches in, alert events out. No Kafka here.

A *series* is (model, feature, segment): one for all traffic, plus one per value of each segment
dimension (:mod:`detector.segments`). Each event updates, for every monitored field, the
all-traffic series and one series per dimension. The false-alarm budget sets each test's level
(:mod:`detector.false_alarms`).

The engine is two stages over one set of units:

- stage one, :class:`~detector.split.Splitter`: a batch into a slice (columns in key order,
  derived fields, the performance tape) and the slice into one chunk per unit;
- stage two, :class:`~detector.applier.Applier`: chunks applied to the units
  (:class:`~detector.units.Units`), alerts ranked in stream order.

:class:`Engine` pairs them for code that runs both in one thread (``replay``,
:class:`detector.api.Monitor`, :class:`detector.feed.Feed`). The Kafka worker gives each stage
to its own owner instead (:mod:`detector.kafka.input_stage` the splitter,
:mod:`detector.kafka.unit_stage` the applier, :mod:`detector.kafka.state_store` the units).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from detector.alerts import AlertEvent
from detector.applier import Applier
from detector.baseline import Baseline, SeriesKey, load_baseline
from detector.chunks import Chunk, UnitKey
from detector.config import Config
from detector.detectors.plugins import Plugin
from detector.events import EventBatch
from detector.joint import JointUnit
from detector.labels.monitor import PerformanceMonitor
from detector.split import Splitter
from detector.units import Series, Units


@dataclass
class EngineStats:
    """Running totals for logs, metrics and the end-of-run summary (a copy: see
    :attr:`Engine.stats`)."""

    events: int = 0
    alerts_firing: int = 0
    alerts_resolved: int = 0
    series: int = 0
    units_reset: int = 0  # units whose update raised, replaced by fresh ones


class Engine:
    """Stage one and stage two of one model over one set of units."""

    def __init__(
        self, config: Config, baseline: Baseline | None = None, plugins: Sequence[Plugin] = ()
    ) -> None:
        self.config = config
        self.baseline = baseline
        self.units = Units(config, baseline, plugins)
        self.splitter = Splitter(config)
        self.applier = Applier(self.units)

    def split(self, batch: EventBatch) -> list[Chunk]:
        """Stage one: the batch (one source, in order) cut into every unit's chunk."""
        return self.splitter.split(batch)

    def process(self, batch: EventBatch) -> list[AlertEvent]:
        """Both stages on one batch (one source, in order); the alerts in stream order. Events
        and labels of several sources go through :mod:`detector.feed`."""
        return self.applier.apply(self.split(batch))

    # -- what reports, metrics and summaries read ----------------------------------------------

    @property
    def series(self) -> dict[SeriesKey, Series]:
        return self.units.series

    @property
    def joint(self) -> dict[UnitKey, JointUnit]:
        """The joint (multivariate) units, by (``#joint``, dimension, value)."""
        return self.units.joint

    @property
    def performance(self) -> PerformanceMonitor | None:
        return self.units.performance

    @property
    def recent_alerts(self) -> deque[AlertEvent]:
        return self.applier.recent_alerts

    @property
    def stats(self) -> EngineStats:
        """The totals of both stages, as of now."""
        applied = self.applier.stats
        return EngineStats(
            events=self.splitter.events,
            alerts_firing=applied.alerts_firing,
            alerts_resolved=applied.alerts_resolved,
            series=len(self.units.series),
            units_reset=applied.units_reset,
        )


def build_engine(config: Config) -> Engine:
    """An engine with the config's baseline loaded (when it names one)."""
    baseline = load_baseline(config.baseline, config) if config.baseline else None
    return Engine(config, baseline)
