"""Snapshot, restore and continue: each unit's signals, and its final state byte for byte, equal
those of an uninterrupted run.

Every restore reads the state into *fresh* shared objects (a config parsed again, new series
contexts, baseline references read back from their JSON), as another worker process would.
Split points fall inside the warm-up, in the middle of a window and right after an alert.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from detector.baseline import Baseline, SeriesKey
from detector.columns import Categories
from detector.config import Config, parse_config
from detector.false_alarms import test_level as level_of  # not test_*: pytest would collect it
from detector.reference import CategoricalReference, NumericReference, Reference
from detector.series import CategoricalSeries, NumericSeries, SeriesContext
from detector.state import decode_state, encode_state
from detector.state.shared import shared_objects
from detector.stream_checks import SchemaCheck, VolumeCheck
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

N = 14_000
SHARES = {"a": 0.1, "b": 0.4, "c": 0.3, "d": 0.2}
SOURCE = SyntheticStream(
    numeric=["x"],
    categorical={"c": SHARES},
    segments={"country": ["DE", "FR", "US"]},
    seed=8,
    missing={"x": 0.01, "c": 0.01},
)
DRIFTS = [  # a change that comes back, so alerts both fire and resolve
    Drift("x", 6000, 1.0),
    Drift("x", 9000, -1.0),
    Drift("c", 6000, 0.3, kind="share", category="a"),
    Drift("c", 9000, 0.1, kind="share", category="a"),
]
COLUMNS = SOURCE.columns(N, DRIFTS)
KEY: dict[str, SeriesKey] = {"x": ("x", None, None), "c": ("c", None, None)}


class World:
    """What a worker rebuilds from config and baseline: config, contexts, shared names."""

    def __init__(self, baseline: dict[str, Reference] | None) -> None:
        self.config: Config = parse_config(config_dict(SOURCE))
        alpha = level_of(self.config)
        self.contexts = {name: SeriesContext(self.config.detection, alpha) for name in KEY}
        # References read back from JSON: equal values, not the same objects.
        references = {
            KEY[name]: type(ref).from_dict(ref.to_dict()) for name, ref in (baseline or {}).items()
        }
        self.baseline = Baseline("synthetic", 100_000, references) if baseline else None
        self.shared = shared_objects(self.config, self.contexts, self.baseline)

    def reference(self, name: str) -> Any:
        return self.baseline.references[KEY[name]] if self.baseline else None


def _baseline() -> dict[str, Reference]:
    """Training references of the same distributions as the stream before its drift."""
    train = SyntheticStream(numeric=["x"], categorical={"c": SHARES}, seed=99).columns(20_000)
    return {
        "x": NumericReference.from_sample(train["x"]),
        "c": CategoricalReference.from_sample(train["c"].tolist(), top=20),
    }


def _feed(name: str) -> Callable[[Any, int, int], list[str]]:
    """Feed events ``[start, stop)`` of a feature to its series; signals as exact text."""
    gone = COLUMNS["__missing__"][name]
    times = COLUMNS["time"]
    values: Any = np.where(gone, np.nan, COLUMNS[name]) if name == "x" else COLUMNS[name]

    def feed(series: Any, start: int, stop: int) -> list[str]:
        part = values[start:stop]
        if name == "c":
            part = Categories.from_values(
                [None if g else v for v, g in zip(part, gone[start:stop], strict=True)]
            )
        errors = np.zeros(stop - start, dtype=bool)
        return [repr(s) for s in series.update(part, errors, times[start:stop])]

    return feed


def _run(
    make: Callable[[World], Any],
    feed: Callable[[Any, int, int], list[str]],
    cuts: list[int],
    baseline: dict[str, Reference] | None = None,
    restore: bool = True,
) -> list[str]:
    """Signals over the stream cut at ``cuts``, then the final state (as text, so a mismatch
    shows); at each cut (if ``restore``) the unit goes through bytes into a new world."""
    world = World(baseline)
    unit = make(world)
    out: list[str] = []
    for start, stop in pairwise(sorted({0, *cuts, N})):
        if restore and start:
            data = encode_state(unit, world.shared)
            world = World(baseline)
            unit = decode_state(data, world.shared)
        out += feed(unit, start, stop)
    return [*out, repr(encode_state(unit, world.shared))]


def _cuts(make: Callable[[World], Any], feed: Any, baseline: Any) -> list[int]:
    """Regular batches, plus cuts in the warm-up, mid-window and right after the first alert."""
    regular = list(range(0, N, 1700))
    signals = _run(make, feed, regular, baseline, restore=False)
    fired = [s for s in signals if "status='firing'" in s]
    assert fired and any("status='resolved'" in s for s in signals), signals
    first_alert = int(fired[0].split("series_events=")[1].split(",")[0])
    return sorted({*regular, 300, 1250, 2740, first_alert, first_alert + 1, first_alert + 260})


@pytest.mark.parametrize("with_baseline", [False, True])
@pytest.mark.parametrize("name", ["x", "c"])
def test_series_continue_exactly_after_restore(name: str, with_baseline: bool) -> None:
    """Numeric and categorical series, learned or baseline reference: identical signals."""
    baseline = _baseline() if with_baseline else None
    series_type = NumericSeries if name == "x" else CategoricalSeries

    def make(world: World) -> Any:
        return series_type(world.contexts[name], world.reference(name))

    feed = _feed(name)
    cuts = _cuts(make, feed, baseline)
    expected = _run(make, feed, cuts, baseline, restore=False)
    assert _run(make, feed, cuts, baseline) == expected
    if with_baseline:  # the baseline's reference was named, not copied
        world = World(baseline)
        data = encode_state(make(world), world.shared)
        assert decode_state(data, world.shared).reference is world.reference(name)


def test_volume_check_continues_exactly_after_restore() -> None:
    """Segment volume: a segment going silent fires, and restores change nothing."""
    silent = SyntheticStream(segments={"country": ["DE", "FR", "US"]}, seed=4)
    cols = silent.columns(N, [Drift("amount", 7000, segment=("country", "US"), kind="silence")])
    countries, times = cols["segment.country"].tolist(), cols["time"].tolist()
    n = len(times)

    def feed(check: VolumeCheck, start: int, stop: int) -> list[str]:
        stop = min(stop, n)
        found = check.update(
            {"country": Categories.from_values(countries[start:stop])}, times[start:stop]
        )
        return [repr(item) for item in found]

    def make(world: World) -> VolumeCheck:
        return VolumeCheck(world.config.detection, 1e-6)

    cuts = [300, 1000, 4999, 5000, 7003, 9999, 10_001, 12_345]
    expected = _run(make, feed, cuts, restore=False)
    assert any("'firing'" in s for s in expected[:-1])
    assert _run(make, feed, cuts) == expected


def test_schema_check_continues_exactly_after_restore() -> None:
    """Schema: a field appearing after the warm-up fires once, restored or not."""
    paths = [{"a", "b"} if i < 3000 else {"a", "b", f"new{i // 4000}"} for i in range(N)]

    def feed(check: SchemaCheck, start: int, stop: int) -> list[str]:
        found = []
        for i in range(start, stop, 64):
            found += check.check(paths[i], i + 1, 1000.0 + i)
        return [repr(item) for item in found]

    def make(world: World) -> SchemaCheck:
        return SchemaCheck(world.config.detection)

    cuts = [640, 1280, 6400, 8064]
    expected = _run(make, feed, cuts, restore=False)
    assert len(expected) == 4 + 1  # new0 .. new3, then the state
    assert _run(make, feed, cuts) == expected
