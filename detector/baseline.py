"""Training baselines: per-series references computed once from the model's training data.

``drift-detector baseline --config FILE --input TRAIN --out BASELINE.json`` reads training rows
through the same field paths and segment routing as live events and writes, per feature and per
segment value, the reference the live series test against (see :mod:`detector.reference`).
Numeric moments, quantiles and bins come from a uniform reservoir sample of up to ``RESERVOIR``
values per series (exact below that); missing and type-error rates use every row.

**Seasonality.** With ``event.time`` set and ``detection.season.period`` not ``off``, each
numeric series also collects phase cells of its values by event time
(:class:`detector.seasonal.PhaseAccumulator`). When they show a real daily or weekly pattern
that repeats over at least two cycles (a segment with little traffic is held to a looser level
once another series of the same feature showed the cycle), the reference is built from
seasonally adjusted values (the reservoir keeps each value's event time) and carries the
profile, so live values are adjusted the same way. Such a file is written as version 2 (older
readers refuse it rather than test raw values against an adjusted reference); files without a
profile stay version 1.

**Joint test.** With ``detection.joint.enabled``, the builder also keeps a uniform reservoir of
rows (the joint fields of one event) per segment value and writes, per segment, a
:class:`~detector.multivariate.JointReference` (``joint`` in the file): each field's quantiles,
the correlations of the rows' normal scores, and the pairs' inflation from each field's
dependence. Readers that know no ``joint`` entry ignore it; a reader whose joint fields differ
from the file's ignores it too (its joint units then warm up).

The file is versioned JSON (``format``/``version``); it holds numbers and strings only, so loading
one can never execute code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from detector._native import block_dependence, dependence
from detector.config import Config
from detector.errors import ConfigError
from detector.events import Decoder, EventBatch
from detector.multivariate import JointReference
from detector.predictions import with_derived_fields
from detector.reference import (
    CategoricalReference,
    NumericReference,
    Reference,
    categorical_dependence,
)
from detector.seasonal import (
    RELATED_LEVEL,
    PhaseAccumulator,
    PhaseProfile,
    candidate_periods,
)
from detector.segments import SegmentRouter, segment_groups

FORMAT = "kafka-drift-detector/baseline"
VERSION = 1
SEASONAL_VERSION = 2  # a file with phase profiles (readable only by readers that adjust)
RESERVOIR = 20_000
PREFIX_BLOCKS = 20  # windows of values kept in file order for a short file's dependence
SeriesKey = tuple[str, str | None, str | None]  # feature, segment dimension, segment value
SegmentKey = tuple[str | None, str | None]  # segment dimension, value; (None, None): all traffic


@dataclass
class _InOrder:
    """Values in file order, for their dependence at the window's scale: the means of
    consecutive blocks of ``scale`` values, and the first ``PREFIX_BLOCKS`` windows' values."""

    scale: int
    count: int = 0
    total: float = 0.0
    blocks: list[np.ndarray] = field(default_factory=list)
    prefix: list[np.ndarray] = field(default_factory=list)
    _open: np.ndarray = field(default_factory=lambda: np.empty(0))  # the unfinished block

    def add(self, values: np.ndarray) -> None:
        room = PREFIX_BLOCKS * self.scale - self.count
        if room > 0:
            self.prefix.append(values[:room])
        self.count += len(values)
        self.total += float(values.sum())
        chain = np.concatenate([self._open, values])
        full = len(chain) // self.scale * self.scale
        if full:
            self.blocks.append(chain[:full].reshape(-1, self.scale).mean(axis=1))
        self._open = chain[full:]

    def dependence(self, variance: float, longer: bool) -> float:
        """From the block means (at least LEAST_BLOCKS blocks; ``longer``: also at 4 and 16
        windows, :func:`detector._native.block_dependence`), else from the first windows'
        values (:func:`detector._native.dependence`)."""
        blocks = np.concatenate(self.blocks) if self.blocks else np.empty(0)
        measured = block_dependence(blocks, self.scale, variance, longer)
        if measured is None:
            prefix = np.concatenate(self.prefix) if self.prefix else np.empty(0)
            measured = dependence(prefix, self.scale)
        return float(measured)

    def indicator_dependence(self) -> float:
        """The dependence of 0/1 values (a value missing): its check looks at one window at a
        time, so at the window's scale only."""
        share = self.total / self.count if self.count else 0.0
        if share in (0.0, 1.0):
            return 0.0
        return self.dependence(share * (1 - share), longer=False)


@dataclass
class _NumericAccumulator:
    scale: int  # values per window: dependence is measured at the scale windows are tested
    seen: int = 0
    missing: int = 0
    errors: int = 0
    absent: _InOrder = field(init=False)  # which events had the value missing (1), in order
    sample: np.ndarray = field(default_factory=lambda: np.empty(0))
    # Dependence in file order (see dependence()): sums over values and consecutive pairs,
    # and the values in order at the window's scale.
    last: float | None = None
    sums: np.ndarray = field(default_factory=lambda: np.zeros(4))  # x, x^2, x*prev, pairs
    ordered: _InOrder = field(init=False)
    # Seasonality: the event time of each reservoir value, phase cells (None: off), and the
    # first values with their times in file order (the dependence of adjusted values).
    times: np.ndarray = field(default_factory=lambda: np.empty(0))
    phase: PhaseAccumulator | None = None
    season_prefix: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    _season_n: int = 0

    def __post_init__(self) -> None:
        self.absent = _InOrder(self.scale)
        self.ordered = _InOrder(self.scale)

    def dependence(self) -> float:
        """The AR(1)-equivalent dependence of the file's order at the window's scale: lag 1
        over every value, and the variance of block means (at least LEAST_BLOCKS blocks), else
        the long-run variance of the first ``PREFIX_BLOCKS`` windows' values (the Rust
        core's :func:`detector._native.dependence`)."""
        total, squares, lagged, pairs = self.sums.tolist()
        if pairs < 2 or self.seen < 3:
            return 0.0
        mean = total / self.seen
        variance = squares / self.seen - mean * mean
        if variance <= 0:
            return 0.0
        lag1 = min(max((lagged / pairs - mean * mean) / variance, 0.0), 0.95)
        return max(float(lag1), self.ordered.dependence(variance, longer=True))

    def add(
        self, values: np.ndarray, rng: np.random.Generator, times: np.ndarray | None = None
    ) -> None:
        if self.phase is not None and times is not None:
            self._season(values, times)
        if len(values):
            chain = values if self.last is None else np.concatenate([[self.last], values])
            self.sums += [
                values.sum(),
                (values * values).sum(),
                (chain[1:] * chain[:-1]).sum(),
                len(chain) - 1,
            ]
            self.last = float(values[-1])
            self.ordered.add(values)
        self._sample(values, rng, times)

    def _season(self, values: np.ndarray, times: np.ndarray) -> None:
        assert self.phase is not None
        self.phase.add(values, times)
        room = PREFIX_BLOCKS * self.scale - self._season_n
        if room > 0:
            self.season_prefix.append((values[:room], times[:room]))
            self._season_n += len(self.season_prefix[-1][0])

    def season_dependence(self, season: PhaseProfile) -> float:
        """The dependence of the first ``PREFIX_BLOCKS`` windows' values once adjusted: in file
        order the cycle itself would count as dependence."""
        if not self.season_prefix:
            return 0.0
        values = np.concatenate([v for v, _ in self.season_prefix])
        times = np.concatenate([t for _, t in self.season_prefix])
        return float(dependence(season.adjust(values, times), self.scale))

    def _sample(
        self, values: np.ndarray, rng: np.random.Generator, times: np.ndarray | None
    ) -> None:
        times = np.full(len(values), np.nan) if times is None else times
        room = RESERVOIR - len(self.sample)
        if room > 0:
            self.sample = np.concatenate([self.sample, values[:room]])
            self.times = np.concatenate([self.times, times[:room]])
            self.seen += min(room, len(values))
            values, times = values[room:], times[room:]
        if len(values):  # algorithm R, vectorised: value j replaces slot r < RESERVOIR
            slots = rng.integers(0, self.seen + np.arange(1, len(values) + 1))
            keep = slots < RESERVOIR
            self.sample[slots[keep]] = values[keep]
            self.times[slots[keep]] = times[keep]
            self.seen += len(values)


@dataclass
class _CategoricalAccumulator:
    scale: int  # values per window: dependence is measured on blocks of this many
    counts: Counter[str] = field(default_factory=Counter)
    missing: int = 0
    errors: int = 0
    absent: _InOrder = field(init=False)  # which events had the value missing (1), in order
    blocks: list[Counter[str]] = field(default_factory=list)  # file order
    _open: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.absent = _InOrder(self.scale)

    def add(self, texts: list[str]) -> None:
        self.counts.update(texts)
        chain = self._open + texts
        full = len(chain) // self.scale * self.scale
        for start in range(0, full, self.scale):
            self.blocks.append(Counter(chain[start : start + self.scale]))
        self._open = chain[full:]

    def dependence(self, reference: CategoricalReference) -> float:
        """From the spread of the blocks' shares of each tracked category (batch means of its
        indicator, :func:`detector._native.block_dependence`)."""

        def measure(index: int, share: float) -> float | None:
            category = reference.categories[index]
            shares = np.array([b[category] / self.scale for b in self.blocks])
            return block_dependence(shares, self.scale, share * (1 - share), longer=False)

        return categorical_dependence(reference, measure)


@dataclass
class Baseline:
    """References by series, plus the event fields seen in training (for schema checks)."""

    model: str
    events: int
    references: dict[SeriesKey, Reference]
    fields: list[str] = field(default_factory=list)
    joint: dict[SegmentKey, JointReference] = field(default_factory=dict)
    labels: dict[str, Any] | None = None  # the labels entry as read (detector.labels reads it)

    def to_json(self) -> bytes:
        series = [
            {"feature": f, "dimension": d, "value": v, "reference": ref.to_dict()}
            for (f, d, v), ref in self.references.items()
        ]
        seasonal = any(getattr(ref, "season", None) is not None for ref in self.references.values())
        document = {
            "format": FORMAT,
            "version": SEASONAL_VERSION if seasonal else VERSION,
            "model": self.model,
            "events": self.events,
            "fields": self.fields,
            "series": series,
        }
        if self.joint:
            document["joint"] = [
                {"dimension": d, "value": v, "reference": ref.to_dict()}
                for (d, v), ref in self.joint.items()
            ]
        if self.labels is not None:
            document["labels"] = self.labels
        return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def load_baseline(path: str | Path, config: Config) -> Baseline:
    """Read a baseline file, checking it matches the config's model and field types."""
    try:
        document = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"baseline: cannot read {path}: {exc}") from exc
    if document.get("format") != FORMAT or document.get("version") not in (
        VERSION,
        SEASONAL_VERSION,
    ):
        raise ConfigError(
            f"baseline: {path} is not a version {VERSION} or {SEASONAL_VERSION} baseline file"
        )
    if document.get("model") != config.model:
        raise ConfigError(f"baseline: {path} is for model {document.get('model')!r}")
    types = {f.name: f.type for f in config.monitored_fields() + config.derived_fields()}
    references: dict[SeriesKey, Reference] = {}
    for entry in document["series"]:
        feature, data = entry["feature"], entry["reference"]
        if feature not in types:
            continue  # a feature no longer monitored
        if types[feature] != data["type"]:
            raise ConfigError(
                f"baseline: {feature} is {data['type']} in {path} but {types[feature]} in config"
            )
        try:
            reference: Reference = (
                NumericReference.from_dict(data)
                if data["type"] == "numeric"
                else CategoricalReference.from_dict(data)
            )
        except ValueError as exc:  # e.g. a phase profile that makes no sense
            raise ConfigError(f"baseline: {feature} in {path}: {exc}") from exc
        references[(feature, entry["dimension"], entry["value"])] = reference
    joint: dict[SegmentKey, JointReference] = {}
    names = tuple(config.joint_fields())
    for entry in document.get("joint", []) if names else []:
        try:
            found = JointReference.from_dict(entry["reference"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"baseline: joint reference in {path}: {exc}") from exc
        if found.correlation.names == names:  # else the joint units warm up
            joint[(entry["dimension"], entry["value"])] = found
    labels = document.get("labels")
    if labels is not None and not isinstance(labels, dict):
        raise ConfigError(f"baseline: labels in {path} is not an object")
    events, fields = int(document["events"]), list(document["fields"])
    return Baseline(config.model, events, references, fields, joint, labels)


class BaselineBuilder:
    """Accumulates training rows (as JSON records) into a :class:`Baseline`."""

    def __init__(self, config: Config, seed: int = 0) -> None:
        self.config = config
        self.decoder = Decoder(config)
        self.router = SegmentRouter(config.segments)
        self.events = 0
        self.rejected: Counter[str] = Counter()
        self.fields: set[str] = set()
        self._numeric: dict[SeriesKey, _NumericAccumulator] = {}
        self._categorical: dict[SeriesKey, _CategoricalAccumulator] = {}
        self._rng = np.random.default_rng(seed)
        self._joint: dict[SegmentKey, _RowReservoir] = {}
        self._scale = config.detection.window
        # Cycles are read from event times: without an event.time path they are row numbers.
        timed = config.event.time is not None
        self._periods = candidate_periods(config.detection.season.period) if timed else ()

    def add(self, records: list[bytes]) -> None:
        """Decode training records (JSON) and add them."""
        result = self.decoder.decode(records, [float(self.events + i) for i in range(len(records))])
        self.rejected.update(r.reason for r in result.rejections)
        self.add_batch(result.batch)

    def add_batch(self, batch: EventBatch) -> None:
        """Add already-decoded training rows."""
        batch = with_derived_fields(batch, self.config)
        self.events += batch.size
        for _, paths in batch.schema_samples:
            self.fields |= paths
        groups = segment_groups(batch.size, self.router.capped(batch.segments))
        for spec in self.config.monitored_fields() + self.config.derived_fields():
            errors = batch.type_errors[spec.name]
            for dimension, value, rows in groups:
                key = (spec.name, dimension, value)
                if spec.type == "numeric":
                    num = self._numeric.get(key) or self._new_numeric(key)
                    values = batch.numeric[spec.name][rows]
                    present = ~np.isnan(values)
                    num.add(values[present], self._rng, batch.times[rows][present])
                    num.errors += int(errors[rows].sum())
                    num.missing += int((~present).sum()) - int(errors[rows].sum())
                    num.absent.add((~present & ~errors[rows]).astype(np.float64))
                else:
                    cat = self._categorical.setdefault(key, _CategoricalAccumulator(self._scale))
                    column = batch.categorical[spec.name].take(rows)
                    vocabulary = column.vocabulary
                    cat.add([vocabulary[c] for c in column.codes.tolist() if c >= 0])
                    cat.errors += int(errors[rows].sum())
                    cat.missing += int((column.codes < 0).sum()) - int(errors[rows].sum())
                    cat.absent.add(((column.codes < 0) & ~errors[rows]).astype(np.float64))
        names = self.config.joint_fields()
        if names:
            matrix = np.column_stack([batch.numeric[n] for n in names])
            for dimension, value, rows in groups:
                reservoir = self._joint.setdefault((dimension, value), _RowReservoir(len(names)))
                reservoir.add(matrix[rows], self._rng)

    def _new_numeric(self, key: SeriesKey) -> _NumericAccumulator:
        num = self._numeric[key] = _NumericAccumulator(self._scale)
        if self._periods:
            num.phase = PhaseAccumulator(self._periods)
        return num

    def _seasons(self) -> dict[SeriesKey, PhaseProfile]:
        """Phase profiles by series. A segment with little traffic may not prove a cycle on its
        own: once another series of the same feature has shown one, the rest are tried for
        that period at ``RELATED_LEVEL``."""
        found: dict[SeriesKey, PhaseProfile] = {}
        for key, num in self._numeric.items():
            season = num.phase.fit() if num.phase is not None else None
            if season is not None:
                found[key] = season
        periods: dict[str, set[float]] = {}
        for (feature, _, _), season in found.items():
            periods.setdefault(feature, set()).add(season.period)
        for key, num in self._numeric.items():
            if num.phase is not None and key not in found and key[0] in periods:
                season = num.phase.fit(RELATED_LEVEL, sorted(periods[key[0]]))
                if season is not None:
                    found[key] = season
        return found

    def build(self) -> Baseline:
        references: dict[SeriesKey, Reference] = {}
        top = self.config.detection.top_categories
        seasons = self._seasons()
        for key, num in self._numeric.items():
            if len(num.sample) >= self.config.detection.min_window_values:
                season = seasons.get(key)
                if season is None:
                    references[key] = NumericReference.from_sample(
                        num.sample, num.missing, num.errors, num.seen, num.dependence()
                    )
                else:
                    references[key] = _seasonal_reference(num, season)
                references[key].missing_dependence = num.absent.indicator_dependence()
        for key, cat in self._categorical.items():
            if sum(cat.counts.values()) >= self.config.detection.min_window_values:
                reference = CategoricalReference.from_counts(
                    cat.counts, top, cat.missing, cat.errors
                )
                reference.dependence = cat.dependence(reference)
                reference.missing_dependence = cat.absent.indicator_dependence()
                references[key] = reference
        joint = {
            segment: reservoir.reference(self.config, segment, references)
            for segment, reservoir in self._joint.items()
            if reservoir.seen >= self.config.detection.min_window_values
        }
        return Baseline(self.config.model, self.events, references, sorted(self.fields), joint)


class _RowReservoir:
    """A uniform sample of up to ``RESERVOIR`` rows of the joint fields (algorithm R)."""

    def __init__(self, fields: int) -> None:
        self.rows = np.empty((0, fields))
        self.seen = 0

    def add(self, rows: np.ndarray, rng: np.random.Generator) -> None:
        room = RESERVOIR - len(self.rows)
        if room > 0:
            self.rows = np.concatenate([self.rows, rows[:room]])
            self.seen += min(room, len(rows))
            rows = rows[room:]
        if len(rows):  # row j replaces slot r < RESERVOIR
            slots = rng.integers(0, self.seen + np.arange(1, len(rows) + 1))
            keep = slots < RESERVOIR
            self.rows[slots[keep]] = rows[keep]
            self.seen += len(rows)

    def reference(
        self, config: Config, segment: SegmentKey, references: dict[SeriesKey, Reference]
    ) -> JointReference:
        """The segment's joint reference; each field's dependence from its series' reference
        (the reservoir has lost the file's order)."""
        names = tuple(config.joint_fields())
        phi = np.array([getattr(references.get((n, *segment)), "dependence", 0.0) for n in names])
        return JointReference.from_rows(names, self.rows, phi)


def _seasonal_reference(num: _NumericAccumulator, season: PhaseProfile) -> NumericReference:
    """The reference of seasonally adjusted values, with their dependence."""
    adjusted = season.adjust(num.sample, num.times)
    dependence = num.season_dependence(season)
    reference = NumericReference.from_sample(
        adjusted, num.missing, num.errors, num.seen, dependence
    )
    return replace(reference, season=season)


def build_baseline(config: Config, records: Iterable[bytes], batch: int = 5000) -> Baseline:
    """Build a baseline from JSON records (see :mod:`detector.inputs` for CSV and Parquet)."""
    builder = BaselineBuilder(config)
    chunk: list[bytes] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == batch:
            builder.add(chunk)
            chunk = []
    if chunk:
        builder.add(chunk)
    return builder.build()
