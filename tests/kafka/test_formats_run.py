"""``run`` on Avro records in the Confluent wire format, schemas from a registry (docs/formats.md):
the alerts of the same events as JSON replay, and every undecodable record on the dead-letter
topic with its reason. The registry is the in-process stand-in of detector.testing.formats
(``GET /schemas/ids/{id}``, through confluent-kafka's client); tests/test_formats.py has the
test against a real registry (DRIFT_SCHEMA_REGISTRY_URL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import orjson
import pytest

pytest.importorskip("fastavro")
pytest.importorskip("authlib")  # confluent-kafka's Schema Registry client

from detector.alerts import alert_bytes
from detector.config import parse_config
from detector.formats.wire import frame
from detector.replay import replay
from detector.testing.formats import Registry, avro_records, avro_schema, serving
from detector.testing.kafka_io import consume_records, produce_records, run_until_end
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

pytestmark = pytest.mark.kafka


def test_run_avro_from_registry_equals_json_replay(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    stream = SyntheticStream(
        numeric=["amount"],
        categorical={"mcc": {"a": 0.5, "b": 0.5}},
        segments={"country": ["DE", "FR"]},
        seed=3,
    )
    events = list(stream.events(12_000, [Drift("amount", 6_000, 1.0, ("country", "DE"))]))
    avro = avro_records(stream, events, schema_id=21)
    bad = {
        100: (frame(77, avro[100][5:]), "unknown_schema"),
        200: (avro[200][:-2], "truncated"),
        300: (orjson.dumps(events[300]), "not_wire_format"),
    }
    records: list[tuple[bytes | None, bytes | None]] = []
    for i, value in enumerate(avro):
        if i in bad:
            records.append((b"bad", bad[i][0]))
        records.append((None, value))
    topics = {
        "events": topic_factory(1),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    schema = orjson.dumps(avro_schema(stream)).decode()
    with serving(Registry({21: ("AVRO", schema)})) as registry:
        data = config_dict(stream, "fraud", topics)
        data["kafka"] = {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"f-{uuid.uuid4().hex[:8]}",
        }
        data["event"]["format"] = "avro"
        data["schema_registry"] = {"url": registry.url}
        config = parse_config(data)
        produce_records(kafka_bootstrap, topics["events"], records, partition=0)
        report = run_until_end(config, 90.0)
    assert report.records == len(records)
    assert report.dead_letters == {"unknown_schema": 1, "truncated": 1, "not_wire_format": 1}
    dlq = consume_records(kafka_bootstrap, topics["dead_letter"], 3)
    assert [dict(m.headers() or [])["drift.errors.class"] for m in dlq] == [
        b"unknown_schema",
        b"truncated",
        b"not_wire_format",
    ]
    assert [m.value() for m in dlq] == [value for value, _ in bad.values()]
    json_config = parse_config(
        {**data, "event": {**data["event"], "format": "json"}, "schema_registry": {}}
    )
    expected: list[bytes] = []
    replay(
        json_config, [orjson.dumps(e) for e in events], lambda a: expected.append(alert_bytes(a))
    )
    assert expected
    alerts = consume_records(kafka_bootstrap, topics["alerts"], report.alerts)
    assert [m.value() for m in alerts] == expected
