"""A dead stream is noticed on the wall clock by `run`, and resolved by the next event."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import orjson
import pytest

from detector.config import parse_config
from detector.kafka.worker import Worker
from detector.testing.kafka_io import consume_records, produce_records
from detector.testing.synthetic import SyntheticStream, config_dict

pytestmark = pytest.mark.kafka


def test_silent_stream_fires_then_resolves(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """No event for 1 s after traffic: stream_silence fires once; new events resolve it."""
    stream = SyntheticStream(numeric=["amount"], categorical={}, segments={}, seed=3)
    topics = {"events": topic_factory(), "alerts": topic_factory(), "dead_letter": topic_factory()}
    data = config_dict(stream, "quiet", topics)
    data["kafka"] = {"bootstrap.servers": kafka_bootstrap, "group.id": f"g-{uuid.uuid4().hex}"}
    data["detection"] = {"stream_silence_seconds": 1.0}
    events = [orjson.dumps(e) for e in stream.events(300)]
    produce_records(kafka_bootstrap, topics["events"], [(None, e) for e in events[:200]])

    worker = Worker(parse_config(data))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        fired = consume_records(kafka_bootstrap, topics["alerts"], 1, deadline=60)
        assert len(fired) == 1
        first = orjson.loads(fired[0].value() or b"{}")["data"]
        assert (first["check"], first["status"], first["severity"]) == (
            "stream_silence",
            "firing",
            "critical",
        )
        assert first["dedup_key"] == "quiet/quality/__events__/all/stream_silence"
        produce_records(kafka_bootstrap, topics["events"], [(None, e) for e in events[200:]])
        both = consume_records(kafka_bootstrap, topics["alerts"], 2, deadline=60)
        assert [orjson.loads(m.value() or b"{}")["data"]["status"] for m in both] == [
            "firing",
            "resolved",
        ]
    finally:
        worker.stop()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert worker.report.records == 300
