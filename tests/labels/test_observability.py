"""The join and performance metrics on the Prometheus endpoint, read from a fed engine."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from detector.config import parse_config
from detector.engine import Engine
from detector.observability.collectors import build_registry
from detector.testing.labelled import ErrorChange, LabelledStream, feed


def test_join_counters_and_metrics_are_exported() -> None:
    """Pairs, drops, pending halves, window metrics and firing alerts, labelled by segment."""
    stream = LabelledStream(seed=8, label_delay=(0.0, 60.0), lost=0.1)
    cfg = stream.config("m")
    cfg["label"]["ttl_seconds"] = 120.0
    engine = Engine(parse_config(cfg))
    feed(engine, stream.batches(40_000, [ErrorChange(0, 0.4, ("country", "DE"))]))
    assert engine.performance is not None
    stats = engine.performance.stats

    text = generate_latest(build_registry(None, engine, "m", 100)).decode()

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("drift_join_pairs_total", (("model", "m"),))] == stats.matched > 0
    dropped = ("drift_join_dropped_total", (("model", "m"), ("reason", "expired_prediction")))
    assert samples[dropped] == stats.expired_predictions > 0
    pending = ("drift_join_pending", (("model", "m"), ("side", "label")))
    assert samples[pending] == stats.pending_labels
    accuracy = (
        "drift_performance_metric",
        (("metric", "accuracy"), ("model", "m"), ("segment", "all")),
    )
    assert 0.6 < samples[accuracy] < 0.95
    firing = ("drift_performance_firing", (("alert", "error_vs_rest"), ("model", "m")))
    assert samples[firing] == 1


def test_estimated_metrics_are_exported_next_to_realised() -> None:
    """drift_performance_estimate carries the estimate windows' metrics with the realised
    family's segment and metric labels; the firing gauge counts estimated_performance."""
    from detector import Monitor
    from detector.testing.joint import CovariateShift, JointStream

    stream = JointStream(seed=1)
    training = JointStream(seed=99).training(20_000)
    monitor = Monitor(stream.config(), Monitor.baseline_from(stream.config(), training))
    changes = [CovariateShift(10_000, "amount", shrink=0.3)]
    monitor.process(stream.events(20_000, changes), labels=stream.labels(20_000, changes))
    text = generate_latest(build_registry(None, monitor.engine, "m", 100)).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    for name in ("accuracy", "f1", "roc_auc", "count"):
        key = ("drift_performance_estimate", (("metric", name), ("model", "m"), ("segment", "all")))
        assert key in samples
    estimated = samples[
        ("drift_performance_estimate", (("metric", "accuracy"), ("model", "m"), ("segment", "all")))
    ]
    realised = samples[
        ("drift_performance_metric", (("metric", "accuracy"), ("model", "m"), ("segment", "all")))
    ]
    assert abs(estimated - realised) < 0.06
    firing = ("drift_performance_firing", (("alert", "estimated_performance"), ("model", "m")))
    assert samples[firing] == 4  # all traffic and three countries
