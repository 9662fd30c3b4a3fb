"""The engine's first stage: a decoded micro-batch in, columns and chunks per state unit out.

A batch becomes one :class:`~detector.chunks.Slice` (its columns, segment values capped), which
:func:`partition_slices` cuts into the shares of the repartition partitions that own its units,
and :func:`slice_chunks` into one chunk per unit: the stream unit's, then each series' in config
order. ``replay`` cuts the whole slice at once; the Kafka worker sends each partition its share
and cuts it on arrival, for the units it owns.

Stateless but for the segment router's cap (the first ``max_values`` values of a dimension get
their own series; with several workers each applies the cap to what it reads first).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from detector.chunks import (
    JOINT,
    PERFORMANCE_UNIT,
    STREAM_UNIT,
    Chunk,
    SeriesChunk,
    StreamChunk,
    UnitKey,
    unit_partition,
)
from detector.columns import Categories
from detector.config import Config
from detector.events import EventBatch
from detector.order import Keys
from detector.predictions import (
    LabelBatch,
    prediction_halves,
    prediction_probabilities,
    with_derived_fields,
)
from detector.segments import SegmentRouter, segment_groups
from detector.slices import PerformanceTape, Slice, in_key_order


class Splitter:
    """Turns decoded batches into slices in key order, and slices into chunks; counts the
    events it sliced (``events``)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.fields = config.monitored_fields() + config.derived_fields()
        self.router = SegmentRouter(config.segments)
        self._offset = 0  # default keys: one source, rows numbered across batches
        self.events = 0

    def _default_keys(self, times: np.ndarray) -> Keys:
        n = len(times)
        offsets = self._offset + np.arange(n, dtype=np.int64)
        self._offset += n
        return Keys(np.maximum.accumulate(times) if n else times, np.zeros(n, np.int32), offsets)

    def slice(self, batch: EventBatch, keys: Keys | None = None, ordered: bool = True) -> Slice:
        """The batch as columns in key order (default ``keys``: one source, in batch order;
        ``ordered=False``: in batch order), with the prediction half of each event on the tape
        when the config has labels."""
        self.events += batch.size
        batch = with_derived_fields(batch, self.config)
        keys = self._default_keys(batch.times) if keys is None else keys
        names = [f.name for f in self.fields]
        capped = self.router.capped(batch.segments)
        part = Slice(
            rows=np.arange(batch.size, dtype=np.int64),
            times=batch.times,
            segments=capped,
            numeric={n: batch.numeric[n] for n in names if n in batch.numeric},
            categorical={n: batch.categorical[n] for n in names if n in batch.categorical},
            errors={n: batch.type_errors[n] for n in names},
            schema_samples=[(row, sorted(paths)) for row, paths in batch.schema_samples],
            keys=keys,
        )
        if self.config.label is not None:
            predicted, scores = prediction_halves(batch, self.config)
            part.performance = PerformanceTape(
                rows=part.rows,
                keys=keys,
                is_label=np.zeros(batch.size, bool),
                ids=list(batch.ids),
                times=batch.times,
                values=list(predicted),
                scores=scores,
                segments=[capped[s.name].texts() for s in self.config.segments],
                probabilities=prediction_probabilities(batch, self.config),
            )
        return in_key_order(part) if ordered else part

    def label_slice(self, batch: LabelBatch, keys: Keys) -> Slice:
        """A slice of labels only: its tape (for the performance unit), in key order."""
        if self.config.label is None:
            raise ValueError("labels need a config with a label section")
        n = batch.size
        tape = PerformanceTape(
            rows=np.arange(n, dtype=np.int64),
            keys=keys,
            is_label=np.ones(n, bool),
            ids=list(batch.ids),
            times=batch.times,
            values=list(batch.values),
            scores=np.full(n, np.nan),
            segments=[[""] * n for _ in self.config.segments],
            probabilities=_no_probabilities(self.config, n),
        )
        empty = np.empty(0, np.int64)
        none = {s.name: Categories(np.empty(0, np.int32), []) for s in self.config.segments}
        return in_key_order(
            Slice(empty, np.empty(0), none, {}, {}, {}, performance=tape, keys=Keys.empty())
        )

    def split(self, batch: EventBatch, keys: Keys | None = None) -> list[Chunk]:
        """The batch's chunks, every unit's."""
        if batch.size == 0:
            return []
        return slice_chunks(self.config, self.slice(batch, keys))

    def chunks(self, part: Slice, keep: Callable[[UnitKey], bool] | None = None) -> list[Chunk]:
        """A slice's chunks for the units ``keep`` accepts (default: all)."""
        if keep is None:
            return slice_chunks(self.config, part)
        return slice_chunks(self.config, part, keep)


def _no_probabilities(config: Config, n: int) -> np.ndarray | None:
    """Labels' rows of the tape's class probabilities (NaN), when the config has them."""
    prediction = config.prediction
    if prediction is None or prediction.probabilities is None:
        return None
    return np.full((n, len(prediction.probabilities)), np.nan)


def _keep_all(key: UnitKey) -> bool:
    return True


def slice_chunks(
    config: Config, part: Slice, keep: Callable[[UnitKey], bool] = _keep_all
) -> list[Chunk]:
    """The chunks of the units in ``part`` that ``keep`` accepts: the stream unit's and the
    performance unit's, then each series' in config order, then the joint units' (``order``
    counts every series of the batch, kept or not, so alerts sort alike wherever their units
    are applied)."""
    chunks: list[Chunk] = []
    tape = part.performance
    if tape is not None and tape.size and keep(PERFORMANCE_UNIT):
        chunks.append(tape)
    if part.size == 0:
        return chunks
    if part.stream and keep(STREAM_UNIT):
        chunks.append(
            StreamChunk(part.rows, part.times, part.segments, part.schema_samples, part.keys)
        )
    groups = segment_groups(part.size, part.segments)
    order = 0
    for spec in config.monitored_fields() + config.derived_fields():
        for dimension, value, members in groups:
            order += 1
            if spec.name not in part.errors or not keep((spec.name, dimension, value)):
                continue
            chunks.append(SeriesChunk((spec.name, dimension, value), order, part, members))
    joint = config.joint_fields()
    if joint and all(name in part.numeric for name in joint):
        for dimension, value, members in groups:
            order += 1
            if keep((JOINT, dimension, value)):
                chunks.append(SeriesChunk((JOINT, dimension, value), order, part, members))
    return chunks


def partition_slices(config: Config, whole: Slice, partitions: int) -> dict[int, Slice]:
    """Each repartition partition's share of ``whole``: all rows, with the columns of the fields
    that have a unit there (any of all traffic or a segment value present in the batch)."""
    groups = segment_groups(whole.size, whole.segments) if whole.size else []
    wanted: dict[int, set[str]] = {}
    for name in whole.errors:
        for dimension, value, _ in groups:
            wanted.setdefault(unit_partition((name, dimension, value), partitions), set()).add(name)
    joint = config.joint_fields()
    if joint and all(name in whole.numeric for name in joint):
        for dimension, value, _ in groups:
            wanted.setdefault(unit_partition((JOINT, dimension, value), partitions), set()).update(
                joint
            )
    stream = unit_partition(STREAM_UNIT, partitions)
    performance = unit_partition(PERFORMANCE_UNIT, partitions)
    if whole.size:
        wanted.setdefault(stream, set())
    if whole.performance is not None:
        wanted.setdefault(performance, set())
    return {
        p: Slice(
            rows=whole.rows,
            times=whole.times,
            segments=whole.segments,
            numeric={n: v for n, v in whole.numeric.items() if n in names},
            categorical={n: v for n, v in whole.categorical.items() if n in names},
            errors={n: v for n, v in whole.errors.items() if n in names},
            stream=p == stream,
            schema_samples=whole.schema_samples if p == stream else [],
            performance=whole.performance if p == performance else None,
            keys=whole.keys,
        )
        for p, names in wanted.items()
    }
