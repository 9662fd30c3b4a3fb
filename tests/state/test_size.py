"""Saved state of one series (feature or performance) stays within the budget of 64 KiB."""

from __future__ import annotations

from typing import Literal

import pytest

from detector.config import parse_config
from detector.engine import Engine
from detector.state import encode_state
from detector.testing.labelled import ErrorChange, LabelledStream, feed
from detector.testing.synthetic import Drift, SyntheticStream, config_dict, event_batches

BUDGET = 64 * 1024


@pytest.mark.parametrize(
    ("noise", "events"),
    [
        ("normal", 20_000),
        # Heavy tails spread the quantile sketch; 150k events fill the 240-window history.
        ("student_t3", 150_000),
    ],
)
def test_series_state_fits_the_budget(
    noise: Literal["normal", "student_t3"], events: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A numeric and a categorical series (learned references, after a drift) under 64 KiB."""
    source = SyntheticStream(
        numeric=["amount"], segments={}, noise=noise, scale=100.0, seed=2, missing={"mcc": 0.01}
    )
    engine = Engine(parse_config(config_dict(source)))
    drifts = [
        Drift("amount", events // 2, 0.5),
        Drift("mcc", events // 2, 0.3, kind="share", category="5411"),
    ]
    for batch in event_batches(source, events, drifts):
        engine.process(batch)
    shared = engine.units.shared_state()
    sizes = {key[0]: len(encode_state(engine.series[key], shared)) for key in engine.series}
    with capsys.disabled():
        print(f"\nstate after {events:,} {noise} events: {sizes} bytes")
    assert engine.series[("amount", None, None)].lifecycles["drift"].detections > 0
    assert max(sizes.values()) <= BUDGET, sizes


def test_performance_series_state_fits_the_budget(capsys: pytest.CaptureFixture[str]) -> None:
    """Label monitoring: every performance series, the all-traffic one with a full 16,384-pair
    ring and each with an open window, under 64 KiB after an error-rate change."""
    stream = LabelledStream(seed=3, label_delay=(0.0, 30.0))
    engine = Engine(parse_config(stream.config()))
    feed(engine, stream.batches(30_000, [ErrorChange(12_000, 0.45)], size=1500))
    monitor = engine.performance
    assert monitor is not None
    everything = monitor.series[(None, None)]
    assert everything.pairs > 16_384 and everything.lifecycles["error"].detections > 0
    shared = engine.units.shared_state()
    sizes = {key: len(encode_state(s, shared)) for key, s in monitor.series.items()}
    with capsys.disabled():
        print(f"\nperformance series state: max {max(sizes.values()):,} bytes")
    assert max(sizes.values()) <= BUDGET, sizes
