"""Saved state of one series stays within the per-series budget of 64 KiB."""

from __future__ import annotations

from typing import Literal

import pytest

from detector.config import parse_config
from detector.engine import Engine
from detector.state import encode_state
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
    shared = engine.shared_state()
    sizes = {key[0]: len(encode_state(engine.series[key], shared)) for key in engine.series}
    with capsys.disabled():
        print(f"\nstate after {events:,} {noise} events: {sizes} bytes")
    assert engine.series[("amount", None, None)].lifecycles["drift"].detections > 0
    assert max(sizes.values()) <= BUDGET, sizes
