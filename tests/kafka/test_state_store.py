"""The changelog read back by a worker: hostile records, other settings, exact continuation."""

from __future__ import annotations

import copy
import logging
import os
import pickle
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector.alerts import alert_bytes
from detector.chunks import STREAM_UNIT, UnitKey
from detector.config import Config, parse_config
from detector.engine import Engine
from detector.kafka.internal import InternalTopics, unit_key_bytes
from detector.kafka.state_store import StateStore
from detector.replay import replay
from detector.series import NumericSeries
from detector.state.codec import encode_state
from detector.testing.kafka_io import consume_records, produce_records, run_until_end
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

pytestmark = pytest.mark.kafka


class _Boom:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _stream() -> SyntheticStream:
    return SyntheticStream(numeric=["amount"], categorical={}, segments={"c": ["a", "b"]}, seed=3)


def _cfg(stream: SyntheticStream, bootstrap: str, topics: dict[str, str]) -> dict[str, Any]:
    cfg = config_dict(stream, "m", topics)
    cfg["kafka"] = {"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}"}
    cfg["metrics"] = {"enabled": False}
    return cfg


def test_hostile_changelog_records_are_discarded_not_run(
    kafka_bootstrap: str, topic_factory: Any, tmp_path: Path
) -> None:
    """Pickle and forged-class records in the changelog never execute; their units start afresh
    and the run's alerts equal replay's."""
    stream = _stream()
    events = list(stream.events(6000, [Drift("amount", 3000, 1.5)]))
    topics = {
        "events": topic_factory(1),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    cfg = _cfg(stream, kafka_bootstrap, topics)
    group = cfg["kafka"]["group.id"]
    changelog = f"{group}-changelog"
    marker = tmp_path / "pwned"
    forged = orjson.dumps({"class": "os.system", "args": [f"touch {marker}"]})
    produce_records(
        kafka_bootstrap,
        changelog,  # created here with the broker's defaults: one partition, like the input
        [
            (unit_key_bytes(("amount", None, None)), pickle.dumps(_Boom(marker))),
            (unit_key_bytes(("amount", "c", "a")), b"KDDS\x01" + forged),
            (b"not a key", b"whatever"),
        ],
    )
    produce_records(kafka_bootstrap, topics["events"], [(None, orjson.dumps(e)) for e in events])
    report = run_until_end(parse_config(cfg))
    assert not marker.exists()
    assert report.discarded_units == 3 and report.restored_units == 0
    expected: list[bytes] = []
    replay(
        parse_config(cfg),
        (orjson.dumps(e) for e in events),
        lambda a: expected.append(alert_bytes(a)),
    )
    got = [m.value() for m in consume_records(kafka_bootstrap, topics["alerts"], len(expected))]
    assert expected and got == expected


def _restored(config: Config, key: UnitKey, value: bytes, ends: dict[int, int]) -> StateStore:
    """A fresh engine's store after installing ``value`` as ``key``'s snapshot."""
    store = StateStore(Engine(config).units, InternalTopics("r", "c", 1), {})
    store._install(key, value, store.units.shared_state(), ends)
    return store


def _snapshot(engine: Engine, unit: Any, applied: dict[int, int]) -> bytes:
    """A unit of ``engine`` as the changelog holds it."""
    store = StateStore(engine.units, InternalTopics("r", "c", 1), {})
    envelope = {"applied": applied, "config": store.fingerprint, "unit": unit}
    return encode_state(envelope, engine.units.shared_state())


def _used(stream: SyntheticStream) -> tuple[Config, Engine]:
    config = parse_config(
        config_dict(stream, "m", {"events": "e", "alerts": "a", "dead_letter": "d"})
    )
    engine = Engine(config)
    engine.process(_batch(config, stream))
    return config, engine


def test_snapshot_from_other_detection_settings_is_discarded() -> None:
    """A snapshot taken under another window size is not installed: its unit starts afresh."""
    stream = _stream()
    before, engine = _used(stream)
    key: UnitKey = ("amount", None, None)
    value = encode_state(
        {
            "applied": {0: 7},
            "config": StateStore(engine.units, InternalTopics("r", "c", 1), {}).fingerprint,
            "unit": engine.units.unit(key),
        },
        engine.units.shared_state(),
    )
    changed = config_dict(stream, "m", {"events": "e", "alerts": "a", "dead_letter": "d"})
    changed["detection"] = {"window": 400}
    fresh = _restored(parse_config(changed), key, value, {0: 10})
    assert fresh.discarded == 1 and fresh.units.unit(key) is None
    same = _restored(before, key, value, {0: 10})
    assert same.restored_units == 1 and same.applied[key] == {0: 7}


def test_snapshot_past_the_end_of_its_partition_is_discarded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Offsets forged beyond the input's end (2**62), or of a source that does not exist, would
    make the unit skip every row from then on: discarded, the warning names the unit."""
    config, engine = _used(_stream())
    key: UnitKey = ("amount", "c", "a")
    for applied in ({0: 2**62}, {5: 3}, {0: -1}, {"0": 3}):
        value = _snapshot(engine, engine.units.unit(key), applied)  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, logger="detector.state"):
            store = _restored(config, key, value, {0: 2000})
        assert store.discarded == 1 and store.restored_units == 0, applied
        assert store.units.unit(key) is None and key not in store.applied
        assert "('amount', 'c', 'a')" in caplog.records[-1].getMessage()


def test_snapshot_of_the_wrong_shape_is_discarded() -> None:
    """A snapshot that decodes but holds a string for a counter, a unit of another kind, or a
    stream unit without its checks is discarded before it can fail an update."""
    stream = SyntheticStream(
        numeric=["amount"], categorical={"mcc": {"x": 0.5, "y": 0.5}}, segments={"c": ["a"]}
    )
    config, engine = _used(stream)
    numeric = engine.units.unit(("amount", None, None))
    assert isinstance(numeric, NumericSeries)
    broken = copy.copy(numeric)
    broken._warm_events = "many"  # type: ignore[assignment]
    stream_unit = copy.copy(engine.units.unit(STREAM_UNIT))
    del stream_unit.__dict__["volume"]
    cases: list[tuple[UnitKey, Any]] = [
        (("amount", None, None), broken),
        (("amount", None, None), engine.units.unit(("mcc", None, None))),
        (STREAM_UNIT, stream_unit),
        (("nothing", None, None), numeric),
    ]
    for key, unit in cases:
        store = _restored(config, key, _snapshot(engine, unit, {0: 5}), {0: 2000})
        assert store.discarded == 1 and store.restored_units == 0, key
    good = _restored(config, ("amount", None, None), _snapshot(engine, numeric, {0: 5}), {0: 9})
    assert good.restored_units == 1


def _batch(config: Any, stream: SyntheticStream) -> Any:
    from detector.events import Decoder

    lines = [orjson.dumps(e) for e in stream.events(2000)]
    return Decoder(config).decode(lines, [0.0] * len(lines)).batch
