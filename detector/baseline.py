"""Training baselines: per-series references computed once from the model's training data.

``drift-detector baseline --config FILE --input TRAIN --out BASELINE.json`` reads training rows
through the same field paths and segment routing as live events and writes, per feature and per
segment value, the reference the live series test against (see :mod:`detector.reference`).
Numeric moments, quantiles and bins come from a uniform reservoir sample of up to ``RESERVOIR``
values per series (exact below that); missing and type-error rates use every row.

The file is versioned JSON (``format``/``version``); it holds numbers and strings only, so loading
one can never execute code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from detector.config import Config
from detector.errors import ConfigError
from detector.events import Decoder, EventBatch
from detector.reference import CategoricalReference, NumericReference, Reference
from detector.segments import SegmentRouter, segment_groups

FORMAT = "kafka-drift-detector/baseline"
VERSION = 1
RESERVOIR = 20_000
SeriesKey = tuple[str, str | None, str | None]  # feature, segment dimension, segment value


@dataclass
class _NumericAccumulator:
    seen: int = 0
    missing: int = 0
    errors: int = 0
    sample: np.ndarray = field(default_factory=lambda: np.empty(0))
    # Lag-1 autocorrelation in file order: sums over values and consecutive pairs.
    last: float | None = None
    sums: np.ndarray = field(default_factory=lambda: np.zeros(4))  # x, x^2, x*prev, pairs

    def dependence(self) -> float:
        total, squares, lagged, pairs = self.sums.tolist()
        if pairs < 2 or self.seen < 3:
            return 0.0
        mean = total / self.seen
        variance = squares / self.seen - mean * mean
        if variance <= 0:
            return 0.0
        return float(min(max((lagged / pairs - mean * mean) / variance, 0.0), 0.95))

    def add(self, values: np.ndarray, rng: np.random.Generator) -> None:
        if len(values):
            chain = values if self.last is None else np.concatenate([[self.last], values])
            self.sums += [
                values.sum(),
                (values * values).sum(),
                (chain[1:] * chain[:-1]).sum(),
                len(chain) - 1,
            ]
            self.last = float(values[-1])
        self._sample(values, rng)

    def _sample(self, values: np.ndarray, rng: np.random.Generator) -> None:
        room = RESERVOIR - len(self.sample)
        if room > 0:
            self.sample = np.concatenate([self.sample, values[:room]])
            self.seen += min(room, len(values))
            values = values[room:]
        if len(values):  # algorithm R, vectorised: value j replaces slot r < RESERVOIR
            slots = rng.integers(0, self.seen + np.arange(1, len(values) + 1))
            keep = slots < RESERVOIR
            self.sample[slots[keep]] = values[keep]
            self.seen += len(values)


@dataclass
class _CategoricalAccumulator:
    counts: Counter[str] = field(default_factory=Counter)
    missing: int = 0
    errors: int = 0


@dataclass
class Baseline:
    """References by series, plus the event fields seen in training (for schema checks)."""

    model: str
    events: int
    references: dict[SeriesKey, Reference]
    fields: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        series = [
            {"feature": f, "dimension": d, "value": v, "reference": ref.to_dict()}
            for (f, d, v), ref in self.references.items()
        ]
        document = {
            "format": FORMAT,
            "version": VERSION,
            "model": self.model,
            "events": self.events,
            "fields": self.fields,
            "series": series,
        }
        return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def load_baseline(path: str | Path, config: Config) -> Baseline:
    """Read a baseline file, checking it matches the config's model and field types."""
    try:
        document = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"baseline: cannot read {path}: {exc}") from exc
    if document.get("format") != FORMAT or document.get("version") != VERSION:
        raise ConfigError(f"baseline: {path} is not a version {VERSION} baseline file")
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
        reference: Reference = (
            NumericReference.from_dict(data)
            if data["type"] == "numeric"
            else CategoricalReference.from_dict(data)
        )
        references[(feature, entry["dimension"], entry["value"])] = reference
    return Baseline(config.model, int(document["events"]), references, list(document["fields"]))


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

    def add(self, records: list[bytes]) -> None:
        """Decode training records (JSON) and add them."""
        result = self.decoder.decode(records, [float(self.events + i) for i in range(len(records))])
        self.rejected.update(r.reason for r in result.rejections)
        self.add_batch(result.batch)

    def add_batch(self, batch: EventBatch) -> None:
        """Add already-decoded training rows."""
        from detector.labels.decode import with_derived_fields  # labels import baselines

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
                    num = self._numeric.setdefault(key, _NumericAccumulator())
                    values = batch.numeric[spec.name][rows]
                    present = ~np.isnan(values)
                    num.add(values[present], self._rng)
                    num.errors += int(errors[rows].sum())
                    num.missing += int((~present).sum()) - int(errors[rows].sum())
                else:
                    cat = self._categorical.setdefault(key, _CategoricalAccumulator())
                    column = batch.categorical[spec.name].take(rows)
                    cat.counts.update(column.counts())
                    cat.errors += int(errors[rows].sum())
                    cat.missing += int((column.codes < 0).sum()) - int(errors[rows].sum())

    def build(self) -> Baseline:
        references: dict[SeriesKey, Reference] = {}
        top = self.config.detection.top_categories
        for key, num in self._numeric.items():
            if len(num.sample) >= self.config.detection.min_window_values:
                references[key] = NumericReference.from_sample(
                    num.sample, num.missing, num.errors, num.seen, num.dependence()
                )
        for key, cat in self._categorical.items():
            if sum(cat.counts.values()) >= self.config.detection.min_window_values:
                references[key] = CategoricalReference.from_counts(
                    cat.counts, top, cat.missing, cat.errors
                )
        return Baseline(self.config.model, self.events, references, sorted(self.fields))


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
