"""Issue 4's acceptance on seeded streams: concept drift, underperforming segments, delayed labels.

Large runs feed decoded batches straight into the engine through the same merge replay uses
(:func:`detector.testing.labelled.feed`), skipping JSON. Delays count labelled events: pairs of
the series after the change.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pytest

from detector.alerts import AlertEvent, alert_bytes
from detector.config import Config, parse_config
from detector.engine import Engine
from detector.replay import replay
from detector.testing.labelled import ErrorChange, LabelledStream, feed

TWENTY = {"country": {f"c{i:02d}": 0.05 for i in range(20)}}  # 20 segments of 5% each


def _config(stream: LabelledStream, **overrides: Any) -> Config:
    cfg = stream.config()
    for section, values in overrides.items():
        cfg.setdefault(section, {}).update(values)
    return parse_config(cfg)


def _performance(alerts: list[AlertEvent]) -> list[AlertEvent]:
    return [a for a in alerts if a.data.kind == "performance"]


@pytest.mark.parametrize("seed", range(5))
def test_error_rate_rise_alerts_within_5000_labelled_events(seed: int) -> None:
    """10% -> 15% error in all traffic: a performance alert for all traffic within 5,000
    labelled events, none before the change."""
    stream = LabelledStream(seed=seed, label_block=10.0)
    engine = Engine(_config(stream))
    change = 20_000

    alerts = feed(engine, stream.batches(40_000, [ErrorChange(change, 0.15)]))

    performance = _performance(alerts)
    assert all(a.data.series_events > change // 4 for a in performance)  # segments: ~1/4
    everything = [a for a in performance if a.data.dedup_key == "labelled/performance/error/all"]
    assert everything, [a.data.summary for a in alerts]
    first = everything[0].data
    assert first.status == "firing" and first.detector == "adwin"
    assert 0 < first.series_events - change <= 5_000
    assert first.current.mean is not None and first.reference.mean is not None
    assert first.current.mean > first.reference.mean
    assert first.statistic == "error_rate_shift" and first.value > 0


def test_underperforming_segment_is_named() -> None:
    """One 5% segment at 25% error while the rest stays at 10%: an alert naming it, no other."""
    stream = LabelledStream(segments=TWENTY, seed=1, label_block=10.0)
    engine = Engine(_config(stream))

    alerts = feed(engine, stream.batches(100_000, [ErrorChange(0, 0.25, ("country", "c07"))]))

    firing = {a.data.dedup_key for a in _performance(alerts) if a.data.status == "firing"}
    assert firing == {"labelled/performance/error_vs_rest/country=c07"}
    alert = next(a.data for a in alerts if a.data.feature == "error_vs_rest")
    assert alert.segment == {"country": "c07"} and alert.detector == "fisher_exact"
    assert alert.value > alert.threshold > 0.1
    assert alert.reference.mean is not None and alert.reference.mean < 0.12
    assert alert.series_events <= 1_000  # the segment's first window


def test_no_segment_alert_when_all_segments_are_equal() -> None:
    """All 20 segments at 10% error over 500k events: no performance alert at all."""
    stream = LabelledStream(segments=TWENTY, seed=2, label_block=10.0)
    engine = Engine(_config(stream))

    alerts = feed(engine, stream.batches(500_000))

    assert _performance(alerts) == []
    assert engine.performance is not None
    assert engine.performance.stats.matched == 500_000
    series = engine.performance.series
    assert len(series) == 21  # all traffic and the 20 segments
    assert all(len(s.history) >= 20 for key, s in series.items() if key[0])  # windows tested


def _offline(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Textbook metrics of a window of binary labels ``y`` and scores ``p``."""
    pred = p >= 0.5
    tp = float(np.sum(pred & y))
    precision = tp / pred.sum() if pred.sum() else 0.0
    recall = tp / y.sum() if y.sum() else 0.0
    ece = 0.0
    for b in range(10):
        inside = np.minimum((p * 10).astype(int), 9) == b
        if inside.any():
            ece += inside.sum() / len(p) * abs(y[inside].mean() - p[inside].mean())
    return {
        "count": len(y),
        "error_rate": float(np.mean(pred != y)),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "ece": ece,
    }


def test_delayed_labels_match_an_offline_join() -> None:
    """Labels 0-10 min late, 5% never: windows and totals equal an offline join; the join's
    counters equal the offline expectation for a 7-minute TTL."""
    stream = LabelledStream(seed=4, label_delay=(0.0, 600.0), lost=0.05, ms_per_event=20)
    ttl, window, n = 420.0, 500, 50_000
    engine = Engine(_config(stream, label={"ttl_seconds": ttl}, performance={"window": window}))

    feed(engine, stream.batches(n))

    cols = stream.columns(n)
    delay = cols["label_time"] - cols["time"]
    matched = cols["arrives"] & (delay <= ttl)
    final = max(cols["time"].max(), cols["label_time"][cols["arrives"]].max())
    old = cols["time"] < final - ttl
    late = cols["arrives"] & ~matched
    assert engine.performance is not None
    stats = engine.performance.stats
    assert stats.matched == matched.sum()
    assert stats.expired_predictions == (~matched & old).sum()
    assert stats.pending_predictions == (~matched & ~old).sum()
    assert stats.unmatched_labels == (late & (cols["label_time"] < final - ttl)).sum()
    assert stats.peak_pending < 2 * ttl * 1000 / stream.ms_per_event  # what a TTL allows
    # Pairs complete when their label arrives: offline order is the label order.
    order = np.flatnonzero(matched)
    order = order[np.argsort(cols["label_time"][order], kind="stable")]
    y, p = cols["actual"][order], cols["score"][order]
    for key, rows in [((None, None), np.arange(len(order))), (("country", "DE"), None)]:
        if rows is None:
            rows = np.flatnonzero(cols["segment.country"][order] == "DE")
        history = [m for _, m in engine.performance.series[key].history]
        assert len(history) == len(rows) // window
        for i, got in enumerate(history):
            part = rows[i * window : (i + 1) * window]
            for name, value in _offline(y[part], p[part]).items():
                assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (key, i, name)
    totals = engine.performance.series[(None, None)].total_metrics()
    for name, value in _offline(y, p).items():
        assert totals[name] == pytest.approx(value, rel=1e-9), name


def test_max_pending_bounds_memory() -> None:
    """With label.max_pending, waiting halves never exceed it and every record is counted."""
    stream = LabelledStream(seed=5, label_delay=(0.0, 600.0), lost=0.05, ms_per_event=20)
    engine = Engine(_config(stream, label={"max_pending": 2_000}))

    feed(engine, stream.batches(30_000))

    assert engine.performance is not None
    stats = engine.performance.stats
    assert stats.peak_pending <= 2_000
    assert stats.evicted_predictions > 0
    seen = stats.matched * 2 + stats.expired_predictions + stats.evicted_predictions
    seen += stats.unmatched_labels + stats.pending_predictions + stats.pending_labels
    assert seen == stats.predictions + stats.labels


def test_replay_of_json_files_equals_direct_feeding_in_any_batching() -> None:
    """replay --labels on JSON lines gives the alerts of the direct feed, byte for byte, and
    cutting the streams into other batch sizes changes nothing."""
    stream = LabelledStream(seed=6, label_delay=(0.0, 30.0), lost=0.05)
    changes = [ErrorChange(8_000, 0.2)]
    n = 20_000
    config = _config(stream, label={"ttl_seconds": 300.0})
    events = [orjson.dumps(e) for e in stream.events(n, changes)]
    labels = [orjson.dumps(e) for e in stream.labels(n, changes)]
    replayed: list[AlertEvent] = []

    report = replay(config, events, replayed.append, labels=labels)
    direct = [
        [alert_bytes(a) for a in feed(Engine(config), stream.batches(n, changes, size))]
        for size in (5000, 333)
    ]

    assert _performance(replayed), "the change should be detected"
    assert direct[0] == direct[1] == [alert_bytes(a) for a in replayed]
    assert report.labels == len(labels)


def test_predicted_class_balance_is_watched() -> None:
    """prediction.threshold adds predicted_class: a class-balance shift is a drift alert."""
    stream = LabelledStream(seed=7, label_block=10.0)
    engine = Engine(_config(stream))

    alerts = feed(engine, stream.batches(30_000, [ErrorChange(15_000, 0.5)]))

    drifted = [a.data for a in alerts if a.data.dedup_key == "labelled/drift/predicted_class/all"]
    assert drifted and drifted[0].status == "firing"
    assert drifted[0].detector == "chi_square"
    shares = drifted[0].current.shares
    assert shares is not None and not math.isclose(shares["1"], 0.34, abs_tol=0.05)


def test_predicted_class_balance_has_a_baseline_reference() -> None:
    """The baseline builder derives predicted_class too: its balance is judged against training."""
    from detector.baseline import BaselineBuilder
    from detector.events import EventBatch
    from detector.reference import CategoricalReference

    stream = LabelledStream(seed=9, label_block=10.0)
    config = _config(stream)
    builder = BaselineBuilder(config)
    for _, batch in stream.batches(20_000):
        if isinstance(batch, EventBatch):
            builder.add_batch(batch)
    reference = builder.build().references[("predicted_class", None, None)]
    assert isinstance(reference, CategoricalReference)
    assert set(reference.categories) == {"0", "1"} and reference.count == 20_000
