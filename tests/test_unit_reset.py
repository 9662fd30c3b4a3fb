"""A unit whose update raises is replaced by a fresh one: the engine never stops on a unit."""

from __future__ import annotations

import logging

import pytest

from detector.alerts import alert_bytes
from detector.chunks import STREAM_UNIT
from detector.config import parse_config
from detector.engine import Engine
from detector.series import NumericSeries
from detector.testing.synthetic import Drift, SyntheticStream, config_dict, event_batches

STREAM = SyntheticStream(
    numeric=["amount", "latency"], categorical={}, segments={"country": ["DE", "FR"]}, seed=9
)
DRIFTS = [Drift("latency", 6000, 2.0)]


def test_a_broken_series_is_replaced_and_the_others_alert_as_before(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A series whose state is broken mid-stream (a counter that became text) is replaced by a
    fresh one on its next update, with a warning naming it; every other series alerts exactly
    as in an engine where nothing broke."""
    config = parse_config(config_dict(STREAM))
    batches = list(event_batches(STREAM, 12_000, DRIFTS, size=1000))
    reference, engine = Engine(config), Engine(config)
    broken_key = ("amount", "country", "DE")
    expected: list[bytes] = []
    got: list[bytes] = []
    for i, batch in enumerate(batches):
        if i == 3:
            series = engine.series[broken_key]
            assert isinstance(series, NumericSeries)
            series._batch_start = "broken"  # type: ignore[assignment]
            series._core = object()  # type: ignore[assignment]
        with caplog.at_level(logging.WARNING, logger="detector.engine"):
            got += [alert_bytes(a) for a in engine.process(batch)]
        expected += [alert_bytes(a) for a in reference.process(batch)]
    assert engine.stats.units_reset == 1
    assert any(str(broken_key) in r.getMessage() for r in caplog.records)
    assert [a for a in got if b'"amount"' not in a] == [a for a in expected if b'"amount"' not in a]
    assert any(b"latency" in a for a in got)
    fresh = engine.series[broken_key]
    assert isinstance(fresh, NumericSeries) and 0 < fresh.events < 12_000 * 0.5


def test_a_broken_stream_unit_is_replaced() -> None:
    """The stream-wide checks fail on their next chunk: a fresh unit takes the same rows."""
    config = parse_config(config_dict(STREAM))
    engine = Engine(config)
    batches = list(event_batches(STREAM, 3000, size=1000))
    engine.process(batches[0])
    assert engine.units.stream is not None
    engine.units.stream.events = "many"  # type: ignore[assignment]
    engine.process(batches[1])
    assert engine.stats.units_reset == 1
    unit = engine.units.unit(STREAM_UNIT)
    assert unit is not None and unit.events == 1000  # type: ignore[union-attr]
