"""A whole engine snapshotted unit by unit and restored into a fresh engine in a new "worker"
(config parsed again, baseline read back from its file) gives byte-identical alerts, whose ids
encode series event counts, and byte-identical final state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from detector.alerts import AlertEvent, alert_bytes
from detector.baseline import BaselineBuilder, load_baseline
from detector.config import Config, parse_config
from detector.engine import Engine
from detector.events import EventBatch
from detector.feed import Feed
from detector.order import LABEL_SOURCES
from detector.slices import Slice
from detector.state import decode_state, encode_state
from detector.testing.labelled import ErrorChange, LabelledStream
from detector.testing.synthetic import Drift, SyntheticStream, config_dict, event_batches

SOURCE = SyntheticStream(
    numeric=["f0", "f1"],
    categorical={"mcc": {"a": 0.1, "b": 0.4, "c": 0.3, "d": 0.2}},
    segments={"country": ["DE", "FR", "US"]},
    seed=17,
)
DRIFTS = [
    Drift("f0", 12_000, 1.0, segment=("country", "DE")),
    Drift("f0", 16_000, -1.0, segment=("country", "DE")),
    Drift("mcc", 12_000, 0.3, kind="share", category="a"),
    Drift("f1", 14_000, kind="silence", segment=("country", "US")),
]


def restored(engine: Engine, make: Callable[[], Engine]) -> Engine:
    """Every unit of ``engine`` through bytes into a fresh engine from ``make``."""
    fresh = make()
    mine, theirs = engine.units.shared_state(), fresh.units.shared_state()
    for key in engine.units.unit_keys():
        unit = engine.units.unit(key)
        fresh.units.install(key, decode_state(encode_state(unit, mine), theirs))
    return fresh


def final_state(engine: Engine) -> list[bytes]:
    units = engine.units
    shared = units.shared_state()
    return [encode_state(units.unit(key), shared) for key in sorted(units.unit_keys(), key=str)]


def first_alert_batch(alert_batches: list[list[AlertEvent]]) -> int:
    return next(i for i, alerts in enumerate(alert_batches) if alerts)


@pytest.mark.parametrize("with_baseline", [False, True])
def test_engine_continues_exactly_after_restore(with_baseline: bool, tmp_path: Path) -> None:
    """Restores in the warm-up, mid-window and right after the first alert change nothing."""
    data = config_dict(SOURCE)
    if with_baseline:
        training = SyntheticStream(**{**vars(SOURCE), "seed": 99})
        builder = BaselineBuilder(parse_config(data))
        for batch in event_batches(training, 20_000):
            builder.add_batch(batch)
        (tmp_path / "baseline.json").write_bytes(builder.build().to_json())
        data["baseline"] = str(tmp_path / "baseline.json")

    def make() -> Engine:
        config = parse_config(data)
        return Engine(config, load_baseline(config.baseline, config) if config.baseline else None)

    batches = list(event_batches(SOURCE, 24_000, DRIFTS, size=700))
    reference = make()
    expected = [reference.process(batch) for batch in batches]
    after_alert = first_alert_batch(expected) + 1
    assert 12_000 // 700 <= after_alert < 15_000 // 700
    restore_before = {1, 2, 3, after_alert, after_alert + 1, 30}

    engine = make()
    alerts: list[AlertEvent] = []
    for i, batch in enumerate(batches):
        if i in restore_before:
            engine = restored(engine, make)
        alerts += engine.process(batch)
    flat = [alert_bytes(a) for batch_alerts in expected for a in batch_alerts]
    assert [alert_bytes(a) for a in alerts] == flat
    kinds = {(a.data.feature, a.data.status) for batch_alerts in expected for a in batch_alerts}
    assert {
        ("f0", "firing"),
        ("f0", "resolved"),
        ("mcc", "firing"),
        ("__events__", "firing"),
    } <= kinds
    assert final_state(engine) == final_state(reference)


def _labelled_slices(
    stream: LabelledStream, changes: list[ErrorChange], config: Config
) -> Iterator[list[Slice]]:
    """The merged slices replay would hand the engine, batch after batch."""
    feed = Feed(Engine(config), [0, LABEL_SOURCES])
    for _side, batch in stream.batches(30_000, changes, size=1500):
        if isinstance(batch, EventBatch):
            feed.push_events(batch)
        else:
            feed.push_labels(batch)
        released = feed.merge.release()
        if released:
            yield released
    feed.merge.end(0)
    feed.merge.end(LABEL_SOURCES)
    released = feed.merge.release()
    if released:
        yield released


def _apply(engine: Engine, slices: list[Slice]) -> list[AlertEvent]:
    return [a for part in slices for a in engine.applier.apply(engine.splitter.chunks(part))]


def test_performance_monitor_continues_exactly_after_restore() -> None:
    """Labels: the join's pending halves, ADWIN on errors and segment windows all survive."""
    stream = LabelledStream(seed=3, label_delay=(0.0, 30.0))
    changes = [ErrorChange(12_000, 0.45, ("country", "DE"))]
    data = stream.config()

    def make() -> Engine:
        return Engine(parse_config(data))

    runs = list(_labelled_slices(stream, changes, parse_config(data)))
    reference = make()
    expected = [_apply(reference, r) for r in runs]
    performance = [a for batch in expected for a in batch if a.data.kind == "performance"]
    assert {a.data.feature for a in performance} == {"error", "error_vs_rest"}
    after_alert = next(i for i, b in enumerate(expected) if any(a in performance for a in b)) + 1
    restore_before = {1, 5, 11, after_alert, after_alert + 1}

    engine = make()
    alerts: list[AlertEvent] = []
    for i, run in enumerate(runs):
        if i in restore_before:
            assert engine.performance is not None and engine.performance.join.pending > 0
            engine = restored(engine, make)
        alerts += _apply(engine, run)
    assert [alert_bytes(a) for a in alerts] == [alert_bytes(a) for b in expected for a in b]
    assert final_state(engine) == final_state(reference)
