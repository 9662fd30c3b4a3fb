"""The changelog read back by a worker: hostile records, other settings, exact continuation."""

from __future__ import annotations

import os
import pickle
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector.alerts import alert_bytes
from detector.config import parse_config
from detector.engine import Engine
from detector.kafka.internal import InternalTopics, unit_key_bytes
from detector.kafka.state_store import StateStore
from detector.replay import replay
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


def test_snapshot_from_other_detection_settings_is_discarded() -> None:
    """A snapshot taken under another window size is not installed: its unit starts afresh."""
    stream = _stream()
    topics = {"events": "e", "alerts": "a", "dead_letter": "d"}
    before = parse_config(config_dict(stream, "m", topics))
    engine = Engine(before)
    engine.process(_batch(before, stream))
    key = ("amount", None, None)
    unit = engine.unit(key)
    internal = InternalTopics("r", "c", 1)
    old = StateStore(engine, internal, {})
    value = encode_state(
        {"offset": 7, "config": old.fingerprint, "unit": unit}, engine.shared_state()
    )
    changed = config_dict(stream, "m", topics)
    changed["detection"] = {"window": 400}
    fresh = Engine(parse_config(changed))
    store = StateStore(fresh, internal, {})
    store._install(unit_key_bytes(key), value)
    assert store.discarded == 1 and fresh.unit(key) is None
    same = StateStore(Engine(before), internal, {})
    same._install(unit_key_bytes(key), value)
    assert same.restored_units == 1 and same.applied[key] == 7


def _batch(config: Any, stream: SyntheticStream) -> Any:
    from detector.events import Decoder

    lines = [orjson.dumps(e) for e in stream.events(2000)]
    return Decoder(config).decode(lines, [0.0] * len(lines)).batch
