"""Config loading: the documented example works, and every error names its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.config import REDACTED, load_config, parse_config, redact
from detector.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fraud.yaml"


def minimal(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "model": "m",
        "topics": {"events": "e", "alerts": "a", "dead_letter": "d"},
        "features": [{"name": "x", "path": "f.x", "type": "numeric"}],
    }
    data.update(overrides)
    return data


def test_example_config_loads_with_env_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's config loads; ${VAR:-default} falls back to the default."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    config = load_config(EXAMPLE)
    assert config.kafka["bootstrap.servers"] == "127.0.0.1:9092"
    assert [f.name for f in config.monitored_fields()] == ["amount", "mcc", "prediction"]
    assert [s.name for s in config.segments] == ["country", "channel"]
    assert config.segments[0].max_values == 100


def test_env_variable_wins_over_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """${VAR:-default} takes the environment's value when set."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    assert load_config(EXAMPLE).kafka["bootstrap.servers"] == "kafka-1:9092,kafka-2:9092"


def test_unset_variable_without_default_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """${VAR} with VAR unset is an error naming where it was used."""
    monkeypatch.delenv("DD_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError, match=r"kafka\.sasl\.password: environment variable DD_TEST"):
        parse_config(minimal(kafka={"sasl.password": "${DD_TEST_UNSET}"}))


def test_interpolated_numbers_are_coerced(monkeypatch: pytest.MonkeyPatch) -> None:
    """A number given through the environment validates as a number."""
    monkeypatch.setenv("DD_TEST_WARMUP", "400")
    config = parse_config(minimal(detection={"warmup": "${DD_TEST_WARMUP}"}))
    assert config.detection.warmup == 400


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"features": [{"name": "x", "path": "f.x", "type": "numerik"}]}, "features.0.type"),
        ({"topics": {"events": "e", "alerts": "a"}}, "topics.dead_letter"),
        ({"detection": {"warmup": 10}}, "detection.warmup"),
        ({"detection": {"adwin_delt": 0.1}}, "detection.adwin_delt"),
        ({"segments": [{"name": "c", "path": "s..c"}]}, "segments.0.path"),
        ({"segments": [{"name": "c", "path": "c", "values": ["a", "a"]}]}, "segments.0"),
        ({"segments": [{"name": "c", "path": "c", "values": ["__other__"]}]}, "segments.0"),
        ({"segments": [{"name": "c", "path": "c", "values": [""]}]}, "segments.0.values.0"),
        ({"kafka": {"Bootstrap Servers": "x"}}, "kafka"),
        ({"features": []}, "features"),
        ({"processing": {"guarantee": "exactly-once"}}, "processing.guarantee"),
        ({"processing": {"commit_interval": 0}}, "processing.commit_interval"),
    ],
)
def test_invalid_field_is_named(overrides: dict[str, object], field: str) -> None:
    """Validation errors (typos, bad values, unknown keys) name the offending field."""
    with pytest.raises(ConfigError) as info:
        parse_config(minimal(**overrides))
    assert f"  {field}:" in str(info.value)


def test_transactional_id_needs_exactly_once() -> None:
    """A transactional producer outside transactions cannot produce: refused at start."""
    with pytest.raises(ConfigError, match=r"kafka\.transactional\.id needs processing\.guarantee"):
        parse_config(minimal(kafka={"transactional.id": "pod-0"}))
    config = parse_config(
        minimal(kafka={"transactional.id": "pod-0"}, processing={"guarantee": "exactly_once"})
    )
    assert config.processing.commit_seconds == 1.0


def test_duplicate_feature_names_rejected() -> None:
    """A feature called prediction collides with the prediction field."""
    data = minimal(prediction={"path": "p.score"})
    data["features"] = [{"name": "prediction", "path": "f.p", "type": "numeric"}]
    with pytest.raises(ConfigError, match="must be unique"):
        parse_config(data)


def test_unreadable_and_unparsable_files(tmp_path: Path) -> None:
    """A missing file or broken YAML is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listing)


@pytest.mark.parametrize(
    ("value", "shown", "why"),
    [
        ("${DD_TEST_PASS", "${DD_TEST_PASS", "no closing }"),
        ("$DD_TEST_PASS", "$DD_TEST_PASS", "write ${DD_TEST_PASS}"),
        ("${}", "${}", "empty variable name"),
        ("x-${DD_TEST_PASS:-fallback", "${DD_TEST_PASS…", "no closing }"),
        ("${DD_TEST_PASS:-${DD_OTHER}}", "${DD_TEST_PASS:-…}", "a default cannot contain $"),
        ("${DD-TEST}", "${DD-…}", "use ${VAR} or ${VAR:-default}"),
        ("${1X}", "${1X}", "a variable name starts with a letter"),
    ],
)
def test_malformed_reference_names_field_and_reference(
    monkeypatch: pytest.MonkeyPatch, value: str, shown: str, why: str
) -> None:
    """A malformed reference is an error at load naming the dotted field and showing the
    reference; the variable's value (a secret here) is never part of the message."""
    monkeypatch.setenv("DD_TEST_PASS", "s3cr3t-value-81")
    with pytest.raises(ConfigError) as info:
        parse_config(minimal(kafka={"sasl.password": value}))
    message = str(info.value)
    assert message.startswith(f"kafka.sasl.password: malformed reference {shown}: "), message
    assert why in message
    assert "s3cr3t-value-81" not in message and "fallback" not in message


def test_malformed_reference_in_a_list_names_the_index() -> None:
    """The dotted path goes through lists too (segments.0.values.1)."""
    data = minimal(segments=[{"name": "c", "path": "c", "values": ["DE", "$COUNTRY"]}])
    with pytest.raises(
        ConfigError, match=r"^segments\.0\.values\.1: malformed reference \$COUNTRY"
    ):
        parse_config(data)


def test_literal_dollars_survive(monkeypatch: pytest.MonkeyPatch) -> None:
    """$$ is a literal $ (also in a default); a $ that starts no reference stays as it is."""
    monkeypatch.delenv("DD_TEST_UNSET", raising=False)
    config = parse_config(
        minimal(
            kafka={
                "sasl.password": "pa$$word",
                "sasl.username": "${DD_TEST_UNSET:-u$$er}",
                "client.id": "costs 5$ or $5",
            }
        )
    )
    assert config.kafka["sasl.password"] == "pa$word"
    assert config.kafka["sasl.username"] == "u$er"
    assert config.kafka["client.id"] == "costs 5$ or $5"


def test_malformed_reference_in_a_file_fails_at_load(tmp_path: Path) -> None:
    """load_config (what every command calls) refuses it before anything connects."""
    path = tmp_path / "c.yaml"
    text = EXAMPLE.read_text().replace(
        "${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}", "${KAFKA_BOOTSTRAP_SERVERS"
    )
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"^kafka\.bootstrap\.servers: malformed reference "):
        load_config(path)


@pytest.mark.parametrize(
    "name",
    [
        "sasl.password",
        "sasl.oauthbearer.client.secret",
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.key.pem",
        "sasl.oauthbearer.config",
        "basic.auth.user.info",
        "schema.registry.basic.auth.user.info",
        "routing_key",
        "api_key",
        "access_token",
        "Authorization",
    ],
)
def test_credentials_are_redacted(name: str) -> None:
    """redact() hides every setting named like a credential, wherever it sits."""
    tree = {"kafka": {name: "v4lue-to-hide", "bootstrap.servers": "b:9092"}, "x": [{name: 1}]}
    assert redact(tree) == {
        "kafka": {name: REDACTED, "bootstrap.servers": "b:9092"},
        "x": [{name: REDACTED}],
    }


@pytest.mark.parametrize(
    "name",
    ["bootstrap.servers", "ssl.key.location", "sasl.oauthbearer.token.endpoint.url", "group.id"],
)
def test_non_credentials_are_printed(name: str) -> None:
    """Paths to key files, endpoints and ordinary settings stay readable."""
    assert redact({"kafka": {name: "shown"}}) == {"kafka": {name: "shown"}}


def test_sink_secrets_and_url_passwords_are_redacted() -> None:
    """A Slack sink's url, every webhook header value and a URL's password are credentials."""
    tree = {
        "sinks": {
            "slack": {"type": "slack", "url": "https://hooks.slack.com/services/T/B/XYZ"},
            "hook": {
                "type": "webhook",
                "url": "https://user:pa55@hooks.example/x",
                "headers": {"Authorization": "Bearer abc", "X-Api": "k"},
            },
            "am": {"type": "alertmanager", "url": "http://am:9093"},
        }
    }
    assert redact(tree)["sinks"] == {
        "slack": {"type": "slack", "url": REDACTED},
        "hook": {
            "type": "webhook",
            "url": f"https://user:{REDACTED}@hooks.example/x",
            "headers": {"Authorization": REDACTED, "X-Api": REDACTED},
        },
        "am": {"type": "alertmanager", "url": "http://am:9093"},
    }


def _classes(**prediction: object) -> dict[str, object]:
    """A multi-class config (categorical labels and prediction) with ``prediction`` fields."""
    return minimal(
        event={"id": "id", "time": "ts"},
        prediction={"path": "p.class", "type": "categorical", **prediction},
        label={"path": "label", "type": "categorical"},
    )


def test_class_probabilities_are_hidden_decoded_fields() -> None:
    """prediction.probabilities: classes in config order (YAML number keys as the decoder
    writes them), decoded as hidden numeric columns, not monitored."""
    config = parse_config(_classes(probabilities={"a": "p.a", 2: "p.two"}))
    assert config.prediction is not None and config.prediction.classes() == ("a", "2")
    hidden = [f for f in config.decoded_fields() if f not in config.monitored_fields()]
    assert [(f.name, f.path, f.type) for f in hidden] == [
        ("prediction_probability_0", "p.a", "numeric"),
        ("prediction_probability_1", "p.two", "numeric"),
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            _classes(probabilities={"a": "p.a"}),
            "prediction.probabilities: Value error, needs at least 2",
        ),
        (_classes(probabilities={"a": "p.a", "b": "p..b"}), "prediction.probabilities.b:"),
        (_classes(probabilities=["p.a", "p.b"]), "prediction.probabilities"),
        (
            _classes(confidence="p.c", probabilities={"a": "p.a", "b": "p.b"}),
            "prediction.probabilities and prediction.confidence: give one",
        ),
        (
            {
                **_classes(probabilities={"a": "p.a", "b": "p.b"}),
                "label": {"path": "label", "type": "binary"},
            },
            "prediction.probabilities needs categorical labels",
        ),
    ],
)
def test_class_probability_errors_name_the_field(config: dict[str, object], message: str) -> None:
    """Fewer than 2 classes, a bad path, a list, with confidence, or without categorical
    labels: refused, naming prediction.probabilities."""
    with pytest.raises(ConfigError) as info:
        parse_config(config)
    assert message in str(info.value)
