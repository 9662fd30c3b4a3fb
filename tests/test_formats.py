"""Input formats (docs/formats.md): Avro and Protobuf records give the alerts of the same events
as JSON; every record that cannot be decoded is a rejection with a reason, never an error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

pytest.importorskip("fastavro")
pytest.importorskip("google.protobuf")
pytest.importorskip("authlib")  # confluent-kafka's Schema Registry client

from detector import Monitor
from detector.config import parse_config, redact
from detector.errors import ConfigError
from detector.events import Decoder
from detector.formats.wire import frame
from detector.replay import replay
from detector.testing.formats import (
    Registry,
    avro_records,
    avro_schema,
    proto_records,
    serving,
    write_avsc,
    write_descriptor_set,
)
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

STREAM = SyntheticStream(seed=11, missing={"amount": 0.02})
DRIFTS = [
    Drift("amount", start=20_000, shift=1.0, segment=("country", "DE")),
    Drift("mcc", start=25_000, kind="share", category="5411", shift=0.5),
]
N = 40_000


def _config(**event: Any) -> dict[str, Any]:
    config = {k: v for k, v in config_dict(STREAM).items() if k != "topics"}
    config["event"] = {**config["event"], **event}
    return config


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return list(STREAM.events(N, DRIFTS))


@pytest.fixture(scope="module")
def json_alerts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    monitor = Monitor(config=_config())
    alerts = monitor.process(events)
    assert alerts, "the scenario must alert"
    assert monitor.summary()["rejected"] == {}
    return alerts


def test_avro_file_schema_gives_the_json_alerts(
    tmp_path: Path, events: list[dict[str, Any]], json_alerts: list[dict[str, Any]]
) -> None:
    avsc = write_avsc(STREAM, tmp_path / "event.avsc")
    monitor = Monitor(config=_config(format="avro", schema_file=str(avsc)))
    assert monitor.process(avro_records(STREAM, events, schema_id=7)) == json_alerts
    assert monitor.summary()["records"] == N and monitor.summary()["rejected"] == {}


def test_bare_avro_through_replay(
    tmp_path: Path, events: list[dict[str, Any]], json_alerts: list[dict[str, Any]]
) -> None:
    """framing: none reads bare Avro payloads; replay keeps binary records byte for byte."""
    avsc = write_avsc(STREAM, tmp_path / "event.avsc")
    config = parse_config(_config(format="avro", schema_file=str(avsc), framing="none"))
    alerts: list[Any] = []
    report = replay(config, avro_records(STREAM, events, schema_id=None), alerts.append)
    assert report.rejected == {}
    assert [orjson.loads(a.model_dump_json()) for a in alerts] == json_alerts


def test_protobuf_descriptor_set_gives_the_json_alerts(
    tmp_path: Path, events: list[dict[str, Any]], json_alerts: list[dict[str, Any]]
) -> None:
    desc = write_descriptor_set(STREAM, tmp_path / "events.desc")
    config = _config(format="protobuf", schema_file=str(desc), protobuf_message="test.drift.Event")
    monitor = Monitor(config=config)
    assert monitor.process(proto_records(STREAM, events)) == json_alerts
    assert monitor.summary()["rejected"] == {}


def test_registry_avro_schemas_are_fetched_once_and_give_the_json_alerts(
    events: list[dict[str, Any]], json_alerts: list[dict[str, Any]]
) -> None:
    schema = orjson.dumps(avro_schema(STREAM)).decode()
    with serving(Registry({42: ("AVRO", schema)})) as registry:
        config = {**_config(format="avro"), "schema_registry": {"url": registry.url}}
        monitor = Monitor(config=config)
        assert monitor.process(avro_records(STREAM, events, schema_id=42)) == json_alerts
        assert registry.hits == 1  # cached


def _decoder_with_registry(url: str) -> Decoder:
    return Decoder(parse_config({**_config(format="avro"), "schema_registry": {"url": url}}))


def test_undecodable_records_are_rejected_with_reasons(events: list[dict[str, Any]]) -> None:
    schema = orjson.dumps(avro_schema(STREAM)).decode()
    good = avro_records(STREAM, events[:3], schema_id=42)
    with serving(Registry({42: ("AVRO", schema), 43: ("PROTOBUF", "x")})) as registry:
        decoder = _decoder_with_registry(registry.url)
        values: list[bytes | None] = [
            good[0],
            frame(99, good[1][5:]),  # an id the registry does not know
            good[1][:-4],  # truncated payload
            good[1][:3],  # truncated header
            b'{"event_id": "x"}',  # JSON where Avro belongs
            frame(43, good[1][5:]),  # a Protobuf schema
            good[2] + b"\x00",  # a byte too many
            None,
            frame(99, good[2][5:]),  # asked once: the unknown id is remembered
            good[2],
        ]
        result = decoder.decode(values, [0.0] * len(values))
        hits = registry.hits
    reasons = [(r.position, r.reason) for r in result.rejections]
    assert reasons == [
        (1, "unknown_schema"),
        (2, "truncated"),
        (3, "truncated"),
        (4, "not_wire_format"),
        (5, "bad_schema"),
        (6, "bad_payload"),
        (7, "not_wire_format"),
        (8, "unknown_schema"),
    ]
    assert all(r.message for r in result.rejections)
    assert result.batch.positions == [0, 9]
    assert result.batch.ids == [events[0]["event_id"], events[2]["event_id"]]
    assert hits == 3  # 42, 99 and 43, each once
    # the Python reference gives the same
    again = _decoder_with_registry("http://127.0.0.1:9").decode_python(values[:1], [0.0])
    assert [r.reason for r in again.rejections] == ["registry_unavailable"]


def test_registry_outage_is_a_rejection_and_backs_off(events: list[dict[str, Any]]) -> None:
    good = avro_records(STREAM, events[:50], schema_id=42)
    decoder = _decoder_with_registry("http://127.0.0.1:9")  # nothing listens on port 9
    result = decoder.decode(good, [0.0] * len(good))
    assert {r.reason for r in result.rejections} == {"registry_unavailable"}
    assert len(result.rejections) == 50 and result.batch.size == 0
    assert "127.0.0.1:9" in result.rejections[0].message


def test_monitor_counts_format_rejections(tmp_path: Path, events: list[dict[str, Any]]) -> None:
    avsc = write_avsc(STREAM, tmp_path / "event.avsc")
    heard: list[tuple[int, str]] = []
    monitor = Monitor(
        config=_config(format="avro", schema_file=str(avsc)),
        on_rejection=lambda n, r, raw: heard.append((n, r.reason)),
    )
    good = avro_records(STREAM, events[:3], schema_id=1)
    monitor.process([good[0], good[1][:-3], b"\x01garbage", good[2]])
    assert monitor.summary()["rejected"] == {"truncated": 1, "not_wire_format": 1}
    assert heard == [(2, "truncated"), (3, "not_wire_format")]


def test_protobuf_registry_uses_the_serialized_descriptor(
    events: list[dict[str, Any]], json_alerts: list[dict[str, Any]]
) -> None:
    import base64

    from detector.testing.formats import proto_file

    serialized = base64.b64encode(proto_file(STREAM).SerializeToString()).decode()
    with serving(Registry({5: ("PROTOBUF", serialized)})) as registry:
        config = {**_config(format="protobuf"), "schema_registry": {"url": registry.url}}
        monitor = Monitor(config=config)
        assert monitor.process(proto_records(STREAM, events, schema_id=5)) == json_alerts
        bad = frame(5, b"\x00", [3])  # no fourth message in the file
        assert Monitor(config=config).process([bad]) == []


def test_label_format(tmp_path: Path) -> None:
    from detector.labels.decode import LabelDecoder

    schema = {
        "type": "record",
        "name": "Label",
        "fields": [
            {"name": "event_id", "type": "string"},
            {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "label", "type": "boolean"},
        ],
    }
    avsc = tmp_path / "label.avsc"
    avsc.write_bytes(orjson.dumps(schema))
    config = parse_config(
        {
            **_config(),
            "prediction": {"path": "prediction.score", "type": "numeric"},
            "label": {"path": "label", "format": "avro", "schema_file": str(avsc)},
        }
    )
    import io

    import fastavro

    buffer = io.BytesIO()
    fastavro.schemaless_writer(
        buffer,
        fastavro.parse_schema(schema),
        {"event_id": "e-1", "ts": 1767225600000, "label": True},
    )
    decoded = LabelDecoder(config).decode([frame(1, buffer.getvalue()), b"\x00\x00"], [0.0, 0.0])
    assert decoded.batch.ids == ["e-1"] and decoded.batch.values == ["1"]
    assert decoded.batch.times.tolist() == [1767225600.0]  # timestamp-millis reads as a time
    assert [r.reason for r in decoded.rejections] == ["truncated"]


@pytest.mark.parametrize(
    ("event", "registry", "message"),
    [
        (
            {"format": "avro"},
            {},
            "event.format: avro needs event.schema_file or schema_registry.url",
        ),
        ({"format": "xml"}, {}, "event.format"),
        ({"schema_file": "x.avsc"}, {}, "event.schema_file: only for format avro or protobuf"),
        ({"format": "avro", "framing": "none"}, {"url": "http://r"}, "event.framing: none needs"),
        ({"format": "avro", "protobuf_message": "a.B", "schema_file": "x"}, {}, "protobuf_message"),
        (
            {"format": "protobuf"},
            {"basic.auth.user.info": "u:p"},
            "schema_registry: Value error, url",
        ),
    ],
)
def test_config_errors_name_the_field(
    event: dict[str, Any], registry: dict[str, Any], message: str
) -> None:
    data = {**_config(**event), "schema_registry": registry}
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_unreadable_schema_files_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.avsc"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"event.schema_file: .*bad.avsc: not an Avro schema"):
        Decoder(parse_config(_config(format="avro", schema_file=str(bad))))
    with pytest.raises(ConfigError, match=r"event.schema_file: cannot read"):
        Decoder(parse_config(_config(format="protobuf", schema_file=str(tmp_path / "none"))))
    desc = write_descriptor_set(STREAM, tmp_path / "e.desc")
    with pytest.raises(ConfigError, match=r"no message 'test.drift.Nope'"):
        Decoder(
            parse_config(
                _config(
                    format="protobuf", schema_file=str(desc), protobuf_message="test.drift.Nope"
                )
            )
        )


def test_registry_credentials_are_redacted() -> None:
    config = parse_config(
        {
            **_config(format="avro"),
            "schema_registry": {"url": "https://sr:9", "basic.auth.user.info": "me:hunter2"},
        }
    )
    shown = redact(config.model_dump())
    assert shown["schema_registry"] == {"url": "https://sr:9", "basic.auth.user.info": "<redacted>"}


REAL_REGISTRY = os.environ.get("DRIFT_SCHEMA_REGISTRY_URL")


@pytest.mark.skipif(
    not REAL_REGISTRY,
    reason="set DRIFT_SCHEMA_REGISTRY_URL to a Confluent-API registry (e.g. Apicurio's "
    "/apis/ccompat/v7): none can be assembled from this machine's registries (docs/formats.md)",
)
def test_real_registry_avro_gives_the_json_alerts(
    events: list[dict[str, Any]], json_alerts: list[dict[str, Any]]
) -> None:
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

    assert REAL_REGISTRY is not None
    client = SchemaRegistryClient({"url": REAL_REGISTRY})
    schema = Schema(orjson.dumps(avro_schema(STREAM)).decode(), "AVRO")
    schema_id = client.register_schema(f"drift-formats-{os.getpid()}-value", schema)
    config = {**_config(format="avro"), "schema_registry": {"url": REAL_REGISTRY}}
    monitor = Monitor(config=config)
    assert monitor.process(avro_records(STREAM, events, schema_id=schema_id)) == json_alerts
    unknown = avro_records(STREAM, events[:1], schema_id=2**31 - 1)
    assert Monitor(config=config).process(unknown) == []


def test_file_commands_refuse_binary_formats(tmp_path: Path, capsys: Any) -> None:
    """replay and baseline read JSON lines: Avro records cannot be split into lines."""
    import yaml

    from detector.cli import main

    avsc = write_avsc(STREAM, tmp_path / "event.avsc")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(_config(format="avro", schema_file=str(avsc))))
    events = tmp_path / "events.avro"
    events.write_bytes(b"")
    assert main(["replay", "--config", str(config), "--input", str(events)]) == 2
    assert "event.format: replay reads JSON lines, not avro records" in capsys.readouterr().err
