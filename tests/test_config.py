"""Config loading: the documented example works, and every error names its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.config import load_config, parse_config
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
