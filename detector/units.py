"""The state units one owner holds: created on first use, replaced, installed, dropped.

A *unit* (:mod:`detector.chunks`) is state with one owner: each data series, the stream-wide
checks, with labels the performance monitor and, with ``detection.joint``, the joint units
(:mod:`detector.joint`). :class:`Units` holds the units of one
process or one Kafka worker: a series is created on its first chunk (from the baseline's
reference when there is one), so a worker that owns some units only holds those.

Units record which of them changed (:meth:`Units.touch`); the state store takes that set at
each commit (:meth:`Units.take_dirty`) and snapshots those units. Only the stage-two applier
(:class:`detector.applier.Applier`) changes units, and only the thread that runs it, or the
thread that waited for it, touches them (:mod:`detector.kafka.unit_stage`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from detector.baseline import Baseline, SeriesKey
from detector.chunks import PERFORMANCE_UNIT, STREAM_UNIT, UnitKey, is_joint
from detector.config import Config
from detector.detectors.plugins import Plugin, river_detector
from detector.errors import ConfigError
from detector.false_alarms import test_level as level_for  # not test_*: pytest collects it
from detector.joint import JointContext, JointUnit
from detector.labels.monitor import PerformanceMonitor
from detector.reference import CategoricalReference, NumericReference
from detector.series import CategoricalSeries, NumericSeries, SeriesContext
from detector.state.codec import Shared
from detector.state.shared import shared_objects
from detector.stream_checks import StreamUnit

Series = NumericSeries | CategoricalSeries
Unit = Series | StreamUnit | PerformanceMonitor | JointUnit


class Units:
    """A model's units (those this owner holds), and which changed since the last snapshot."""

    def __init__(
        self, config: Config, baseline: Baseline | None = None, plugins: Sequence[Plugin] = ()
    ) -> None:
        self.config = config
        self.baseline = baseline
        self.specs = {
            spec.name: spec for spec in config.monitored_fields() + config.derived_fields()
        }
        self.alpha = level_for(config, _estimating(config, baseline))
        self.plugins = _checked(_configured(config) + tuple(plugins))
        self._contexts = {
            f.name: SeriesContext(
                config.detection,
                self.alpha,
                f.bounds,
                tuple(p for p in self.plugins if f.type == "numeric" and p.watches(f.name)),
            )
            for f in self.specs.values()
        }
        self.joint_context = _joint_context(config, self.alpha)
        self.series: dict[SeriesKey, Series] = {}
        self.joint: dict[UnitKey, JointUnit] = {}
        self.stream: StreamUnit | None = None
        self.performance = self._new_performance() if config.label else None
        self._dirty: set[UnitKey] = set()

    # -- creation ------------------------------------------------------------------------------

    def series_of(self, key: SeriesKey) -> Series:
        """A data series, created on first use."""
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = self._new_series(key)
        return series

    def joint_of(self, key: UnitKey) -> JointUnit:
        """A joint unit, created on first use."""
        unit = self.joint.get(key)
        if unit is None:
            unit = self.joint[key] = self._new_joint(key)
        return unit

    def _new_joint(self, key: UnitKey) -> JointUnit:
        if self.joint_context is None:
            raise ValueError("joint units need detection.joint.enabled")
        reference = self.baseline.joint.get(key[1:]) if self.baseline else None
        return JointUnit(self.joint_context, reference)

    def stream_unit(self) -> StreamUnit:
        """The stream-wide checks, created on first use."""
        if self.stream is None:
            self.stream = StreamUnit(self.config, self.alpha)
        return self.stream

    def performance_unit(self) -> PerformanceMonitor:
        if self.performance is None:
            raise ValueError("labels need a config with a label section")
        return self.performance

    def _new_series(self, key: SeriesKey) -> Series:
        spec = self.specs[key[0]]
        reference = self.baseline.references.get(key) if self.baseline else None
        context = self._contexts[spec.name]
        if spec.type == "numeric":
            numeric = reference if isinstance(reference, NumericReference) else None
            return NumericSeries(context, numeric)
        categorical = reference if isinstance(reference, CategoricalReference) else None
        return CategoricalSeries(context, categorical)

    def _new_performance(self) -> PerformanceMonitor:
        labels = self.baseline.labels if self.baseline is not None else None  # its calibration
        return PerformanceMonitor(self.config, self.alpha, self.plugins, labels)

    def template(self, key: UnitKey) -> Unit:
        """A fresh unit for ``key``, not installed: what restored state must look like."""
        if key == STREAM_UNIT:
            return StreamUnit(self.config, self.alpha)
        if key == PERFORMANCE_UNIT:
            if self.config.label is None:
                raise ValueError("a performance unit needs a config with a label section")
            return self._new_performance()
        if is_joint(key):
            return self._new_joint(key)
        if key[0] not in self.specs:
            raise ValueError(f"no monitored field {key[0]!r}")
        return self._new_series(key)

    def renew(self, key: UnitKey) -> None:
        """Replace a unit by a fresh one (it warms up again)."""
        self.touch(key)
        if key == STREAM_UNIT:
            self.stream = StreamUnit(self.config, self.alpha)
        elif key == PERFORMANCE_UNIT:
            self.performance = self._new_performance()
        elif is_joint(key):
            self.joint[key] = self._new_joint(key)
        else:
            self.series[key] = self._new_series(key)

    # -- restore and hand-over -----------------------------------------------------------------

    def unit(self, key: UnitKey) -> Unit | None:
        """A unit's live state object (None if this owner has none)."""
        if key == STREAM_UNIT:
            return self.stream
        if key == PERFORMANCE_UNIT:
            return self.performance
        if is_joint(key):
            return self.joint.get(key)
        return self.series.get(key)

    def install(self, key: UnitKey, unit: Unit) -> None:
        """Put restored state in place of a unit's."""
        if key == STREAM_UNIT and isinstance(unit, StreamUnit):
            self.stream = unit
        elif key == PERFORMANCE_UNIT and isinstance(unit, PerformanceMonitor):
            self.performance = unit
        elif isinstance(unit, JointUnit) and is_joint(key):
            self.joint[key] = unit
        elif isinstance(unit, NumericSeries | CategoricalSeries) and key[0] in self.specs:
            self.series[key] = unit
        else:
            raise ValueError(f"{type(unit).__name__} is not the state of unit {key}")

    def drop(self, keys: Iterable[UnitKey]) -> None:
        """Forget units (their partition went to another worker)."""
        for key in keys:
            if key == STREAM_UNIT:
                self.stream = None
            elif key == PERFORMANCE_UNIT and self.performance is not None:
                self.performance = self._new_performance()
            elif is_joint(key):
                self.joint.pop(key, None)
            else:
                self.series.pop(key, None)
            self._dirty.discard(key)

    def unit_keys(self) -> list[UnitKey]:
        keys: list[UnitKey] = [*self.series, *self.joint]
        if self.stream is not None:
            keys.append(STREAM_UNIT)
        if self.performance is not None:
            keys.append(PERFORMANCE_UNIT)
        return keys

    def touch(self, key: UnitKey) -> None:
        """Note that a unit changed: the next snapshot includes it."""
        self._dirty.add(key)

    def take_dirty(self) -> set[UnitKey]:
        """The units changed since the last call (the state store snapshots them)."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def shared_state(self) -> Shared:
        """Objects units refer to that come from config or baseline, not from the stream:
        snapshots name them instead of copying them (:mod:`detector.state.codec`)."""
        context = self.performance.context if self.performance is not None else None
        return shared_objects(
            self.config, self._contexts, self.baseline, context, self.joint_context
        )

    def counters(self) -> Iterator[tuple[SeriesKey, int, int, int]]:
        """(series, events, missing, type errors) for every series."""
        for key, series in self.series.items():
            yield key, series.events, series.missing, series.type_errors


def _estimating(config: Config, baseline: Baseline | None) -> bool:
    """Whether the performance unit may estimate performance (its tests count in the budget):
    labels, estimation not turned off, and a calibration to estimate with."""
    spec = config.performance.estimate
    if config.label is None or spec.enabled is False:
        return False
    if spec.calibration == "identity":
        return True
    labels = baseline.labels if baseline is not None else None
    return labels is not None and "calibration" in labels


def _joint_context(config: Config, alpha: float) -> JointContext | None:
    """What the model's joint units share; None when the joint test is off."""
    names = config.joint_fields()
    if not names:
        return None
    detection = config.detection
    return JointContext(
        names=tuple(names),
        alpha=alpha,
        window=detection.window,
        window_seconds=detection.window_seconds,
        warmup=detection.warmup,
        min_rows=detection.min_window_values,
        resolve_windows=detection.resolve_windows,
        top=detection.joint.top_pairs,
    )


def _checked(plugins: tuple[Plugin, ...]) -> tuple[Plugin, ...]:
    """The config's and the API's plugins together: names unique, none a built-in detector's
    (alerts name their detector, and saved state is matched by name)."""
    names = [p.name for p in plugins]
    taken = sorted(
        {n for n in names if names.count(n) > 1} | {"adwin", "page_hinkley", "plugin"} & set(names)
    )
    if taken:
        raise ConfigError(f"plugins: names {taken} are taken (another plugin or a built-in)")
    return plugins


def _configured(config: Config) -> tuple[Plugin, ...]:
    """The config's ``detection.plugins``, as plugins."""
    return tuple(
        Plugin(
            river_detector(c.detector, c.params),
            c.label,
            None if c.features is None else tuple(c.features),
            c.input,
            c.stream,
        )
        for c in config.detection.plugins
    )
