"""The fields of every persisted class are pinned to ``STATE_VERSION``.

Saved state is read into the classes as they are now. If a registered class gains, loses or
renames a field, state saved before would restore into a half-initialised object, so the change
must come with a new ``STATE_VERSION`` (old state is then discarded and rebuilt).
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

import orjson

from detector.columns import Categories
from detector.config import parse_config
from detector.engine import Engine
from detector.events import Decoder, EventBatch
from detector.feed import Feed
from detector.order import LABEL_SOURCES
from detector.segments import SegmentRouter
from detector.state.format import STATE_VERSION
from detector.state.registry import HOOKED, PERSISTED, class_name
from detector.testing.joint import CorrelationChange, JointStream
from detector.testing.labelled import ErrorChange, LabelledStream
from detector.testing.synthetic import Drift, SyntheticStream, config_dict, event_batches

PINNED_VERSION = 9
PAIR = ("amount", "latency")
PINNED: dict[str, list[str]] = {
    "detector.joint.JointUnit": [
        "_clock",
        "_first",
        "_last",
        "_open",
        "_rows",
        "_warm",
        "_warm_rows",
        "context",
        "events",
        "history",
        "last_pairs",
        "last_statistic",
        "lifecycle",
        "reference",
    ],
    "detector.multivariate.CorrelationReference": ["corr", "count", "names"],
    "detector.multivariate.JointReference": ["correlation", "counts", "inflation", "quantiles"],
    "detector.columns.Categories": ["codes", "vocabulary"],
    "detector._native.CategoricalCore": [
        "clock",
        "counters",
        "history_tests",
        "history_thresholds",
        "history_times",
        "history_values",
        "last_counts",
        "last_tests",
        "last_thresholds",
        "last_values",
        "lifecycles",
        "open",
        "open_counts",
        "reference_count",
        "settings",
        "shares",
        "totals",
    ],
    "detector._native.NumericCore": [
        "adwin",
        "clock",
        "counters",
        "dependence",
        "history_tests",
        "history_thresholds",
        "history_times",
        "history_values",
        "last_counts",
        "last_tests",
        "last_thresholds",
        "last_values",
        "learn_blocks",
        "learn_open",
        "lifecycles",
        "live",
        "open",
        "open_counts",
        "open_scores",
        "open_values",
        "page_hinkley",
        "recent_raw",
        "recent_scores",
        "recent_times",
        "reference",
        "settings",
        "totals",
    ],
    "detector.series.categorical.CategoricalSeries": [
        "_batch_start",
        "_core",
        "_warm",
        "_warm_absent",
        "_warm_errors",
        "_warm_events",
        "_warm_missing",
        "_warm_n",
        "config",
        "context",
        "reference",
    ],
    "detector.detectors.plugins.PluginSet": ["states"],
    "detector.series.numeric.NumericSeries": [
        "_batch_start",
        "_core",
        "_plugins",
        "_warm",
        "_warm_absent",
        "_warm_errors",
        "_warm_events",
        "_warm_missing",
        "_warm_n",
        "config",
        "context",
        "reference",
    ],
    "detector.alerts.Lifecycle": [
        "clean_windows",
        "detections",
        "firing",
        "severity",
        "started_at",
    ],
    "detector.order.Keys": ["offsets", "ptimes", "sources"],
    "detector.slices.PerformanceTape": [
        "ids",
        "is_label",
        "keys",
        "probabilities",
        "rows",
        "scores",
        "segments",
        "times",
        "values",
    ],
    "detector.chunks.StreamChunk": ["keys", "rows", "schema_samples", "segments", "times"],
    "detector.detectors.adwin.Adwin": [
        "clock",
        "delta",
        "min_window_length",
        "rows",
        "tick",
        "total",
        "totals",
        "variance",
        "variances",
        "width",
    ],
    "detector.labels.join.JoinStats": [
        "duplicates",
        "evicted_predictions",
        "expired_predictions",
        "labels",
        "matched",
        "peak_pending",
        "pending_labels",
        "pending_predictions",
        "predictions",
        "unmatched_labels",
        "unusable_predictions",
    ],
    "detector.labels.join.JoinStore": [
        "_heap",
        "_labels",
        "_predictions",
        "_seq",
        "clock",
        "max_pending",
        "stats",
        "ttl",
    ],
    "detector.labels.metrics.MetricAccumulator": [
        "abs_sum",
        "auc_negative",
        "auc_positive",
        "bin_count",
        "bin_label",
        "bin_score",
        "classes",
        "confusion",
        "count",
        "errors",
        "label_type",
        "log_loss_sum",
        "ovr_negative",
        "ovr_positive",
        "scored",
        "sq_sum",
        "tolerance",
    ],
    "detector.labels.monitor.PerformanceMonitor": [
        "config",
        "context",
        "dimensions",
        "errors",
        "estimates",
        "join",
        "pairs",
        "series",
    ],
    "detector.labels.estimate.EstimateSeries": [
        "_clock",
        "_first",
        "_last",
        "_learned",
        "_open",
        "_warm",
        "_warm_windows",
        "context",
        "history",
        "key",
        "last_metrics",
        "lifecycle",
        "predictions",
    ],
    "detector.labels.estimate.EstimateSums": [
        "confusion",
        "fn",
        "fp",
        "n",
        "negative",
        "positive",
        "squares",
        "total",
        "tp",
    ],
    "detector.labels.series.Columns": [
        "actual",
        "errors",
        "global_errors",
        "global_pairs",
        "predicted",
        "probabilities",
        "scores",
        "times",
    ],
    "detector.labels.series.PerformanceSeries": [
        "_adwin",
        "_batch_start",
        "_before",
        "_clock",
        "_closed",
        "_last_global",
        "_open",
        "_opened_at",
        "_plugins",
        "_ring",
        "context",
        "errors",
        "history",
        "last_metrics",
        "lifecycles",
        "pairs",
        "segment",
    ],
    "detector.reference.CategoricalReference": [
        "categories",
        "count",
        "dependence",
        "events",
        "known",
        "missing_dependence",
        "missing_rate",
        "shares",
        "type_error_rate",
        "unseen_rate",
    ],
    "detector.reference.NumericReference": [
        "bin_edges",
        "bin_probs",
        "count",
        "dependence",
        "events",
        "max",
        "mean",
        "min",
        "missing_dependence",
        "missing_rate",
        "mode_share",
        "quantiles",
        "season",
        "std",
        "type_error_rate",
    ],
    "detector.segments.SegmentRouter": ["_known", "_max_values"],
    "detector.stream_checks.SchemaCheck": ["config", "events", "known", "lifecycles"],
    "detector.stream_checks.SilenceCheck": ["_last_event_time", "lifecycle", "seconds"],
    "detector.stream_checks.StreamUnit": [
        "events",
        "last_event_time",
        "model",
        "schema",
        "silence",
        "volume",
    ],
    "detector.stream_checks.VolumeCheck": [
        "_counts",
        "_filled",
        "_first",
        "_learning",
        "_reference",
        "alpha",
        "config",
        "events",
        "lifecycles",
        "size",
    ],
    "detector.windows.WindowClock": ["filled", "seconds", "size", "started_at"],
    "detector.labels.ring.PairRing": ["count", "errors", "size", "times"],
}
FIX = (
    "Saved state would be read into the changed class: bump STATE_VERSION in "
    "detector/state/format.py, then update PINNED_VERSION and PINNED in {file}."
)


def _collect(obj: object, seen: set[int], found: dict[str, set[str]]) -> None:
    """Fields of every registered object reachable from ``obj`` (hooks: their state's keys)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    kind = type(obj)
    children: Any
    if kind in HOOKED:
        state = obj.to_state()  # type: ignore[attr-defined]
        found.setdefault(class_name(kind), set()).update(state)
        children = state.values()
    elif kind in PERSISTED:
        found.setdefault(class_name(kind), set()).update(vars(obj))
        children = vars(obj).values()
    elif kind in (dict, Counter):
        children = [*obj.keys(), *obj.values()]  # type: ignore[attr-defined]
    elif kind in (list, tuple, set, frozenset, deque):
        children = obj
    else:
        return
    for child in children:
        _collect(child, seen, found)


def _used_objects() -> list[object]:
    """Every unit after real use (warm-up done, alerts fired), and the chunks of both stages."""
    source = SyntheticStream(
        numeric=["x"], categorical={"c": {"a": 0.5, "b": 0.5}}, segments={"s": ["A", "B"]}
    )
    config = config_dict(source)
    config["detection"] = {**config.get("detection", {}), "plugins": [{"detector": "KSWIN"}]}
    engine = Engine(parse_config(config))
    batches = list(event_batches(source, 6000, [Drift("x", 3000, 2.0)], size=1000))
    objects: list[object] = [engine.split(batches[0])]
    engine.applier.apply(objects[0])  # type: ignore[arg-type]
    for batch in batches[1:]:
        engine.process(batch)
    objects += [engine.units.unit(key) for key in engine.units.unit_keys()]
    router = SegmentRouter(engine.config.segments)
    router.capped({"s": Categories.from_values(["A", "B", "A"])})
    objects.append(router)

    stream = LabelledStream(seed=1, label_delay=(0.0, 20.0))
    estimated = {**stream.config(), "performance": {"estimate": {"calibration": "identity"}}}
    labelled = Engine(parse_config(estimated))  # estimated performance too (warm-up reference)
    feed = Feed(labelled, [0, LABEL_SOURCES])
    for _side, part in stream.batches(8000, [ErrorChange(4000, 0.4)], size=1000):
        if isinstance(part, EventBatch):
            feed.push_events(part)
        else:
            feed.push_labels(part)
        for released in feed.merge.release():
            chunks = labelled.splitter.chunks(released)
            objects.append(chunks)
            labelled.applier.apply(chunks)
    objects += [labelled.units.unit(key) for key in labelled.units.unit_keys()]

    joint = JointStream(seed=2)
    cfg = joint.config()
    cfg.pop("label")
    cfg["detection"] = {"window": 200, "joint": {"enabled": True}}
    joint_engine = Engine(parse_config(cfg))
    records = [orjson.dumps(e) for e in joint.events(3000, [CorrelationChange(2000, PAIR, 0.0)])]
    decoded = Decoder(joint_engine.config).decode(records, [0.0] * len(records))
    joint_engine.process(decoded.batch)
    objects += [joint_engine.units.unit(key) for key in joint_engine.units.unit_keys()]
    return objects


def test_persisted_fields_match_the_pinned_state_version() -> None:
    """Sorted field names per registered class, as after construction and use, are pinned."""
    found: dict[str, set[str]] = {}
    seen: set[int] = set()
    for obj in _used_objects():
        _collect(obj, seen, found)
    actual = {name: sorted(fields) for name, fields in sorted(found.items())}
    registered = {class_name(cls) for cls in PERSISTED}
    assert set(actual) == registered, (
        f"registered but never built here, so never pinned: {sorted(registered - set(actual))}; "
        "extend _used_objects() to build them"
    )
    fix = FIX.format(file=__file__)
    changed = {
        name: {"pinned": PINNED.get(name), "now": fields}
        for name, fields in actual.items()
        if PINNED.get(name) != fields
    }
    gone = sorted(set(PINNED) - set(actual))
    assert not changed and not gone, f"persisted fields changed: {changed}, removed: {gone}. {fix}"
    assert PINNED_VERSION == STATE_VERSION, f"STATE_VERSION moved: {fix}"
