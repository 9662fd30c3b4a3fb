"""Label records, prediction halves and the label settings of the config."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from detector.config import Config, parse_config
from detector.errors import ConfigError
from detector.events import Decoder
from detector.labels.decode import LabelDecoder
from detector.predictions import prediction_halves
from detector.testing.labelled import LabelledStream


def _config(**label: Any) -> Config:
    cfg = LabelledStream().config()
    cfg["label"].update(label)
    return parse_config(cfg)


def test_label_records_and_their_rejections() -> None:
    """Good labels decode; each unusable record is rejected with its own reason."""
    decoder = LabelDecoder(_config())
    records: list[bytes | None] = [
        b'{"event_id": "a", "ts": "2026-01-01T00:00:01Z", "label": true}',
        b'{"event_id": 7, "ts": 1767225602000, "label": "0"}',
        b'{"event_id": "c", "ts": "2026-01-01T00:00:03Z", "label": 2}',
        b'{"ts": "2026-01-01T00:00:04Z", "label": 1}',
        b'{"event_id": "e", "ts": "yesterday", "label": 1}',
        b"[1]",
        b"nope",
        None,
    ]

    result = decoder.decode(records, [0.0] * len(records))

    assert result.batch.ids == ["a", "7"]
    assert result.batch.values == ["1", "0"]
    assert result.batch.times.tolist() == [1767225601.0, 1767225602.0]
    reasons = {r.position: r.reason for r in result.rejections}
    assert reasons == {
        2: "bad_label",
        3: "no_id",
        4: "bad_time",
        5: "not_object",
        6: "not_json",
        7: "not_json",
    }


def test_label_paths_may_differ_from_the_event_paths() -> None:
    """label.id and label.time point into the label record's own layout."""
    decoder = LabelDecoder(_config(id="meta.id", time="meta.at"))
    record = orjson.dumps({"meta": {"id": "x", "at": 1767225600}, "label": 0})

    result = decoder.decode([record], [0.0])

    assert result.batch.ids == ["x"] and result.batch.values == ["0"]


def test_prediction_halves_threshold_the_score() -> None:
    """A numeric score becomes the class by prediction.threshold; a missing score is unusable."""
    config = _config()
    events = [
        {"event_id": "1", "ts": 1767225600, "features": {"amount": 1}, "prediction": {"score": s}}
        for s in (0.2, 0.5, None)
    ]
    batch = Decoder(config).decode([orjson.dumps(e) for e in events], [0.0] * 3).batch

    classes, scores = prediction_halves(batch, config)

    assert classes == ["0", "1", None]
    assert scores[:2].tolist() == [0.2, 0.5] and np.isnan(scores[2])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"event": {"time": "ts"}}, "event.id"),
        ({"event": {"id": "event_id"}}, "event.time"),
        ({"label": {"path": "label", "type": "numeric"}}, "tolerance"),
        ({"label": {"path": "label", "type": "categorical"}}, "categorical prediction"),
        ({"prediction": {"path": "p", "type": "categorical", "threshold": 0.5}}, "numeric"),
        (
            {
                "label": None,
                "topics": {"events": "e", "alerts": "a", "dead_letter": "d", "labels": "l"},
            },
            "label section",
        ),
    ],
)
def test_inconsistent_label_settings_are_config_errors(
    change: dict[str, Any], message: str
) -> None:
    """Settings that cannot join or compare are refused with the reason."""
    cfg = LabelledStream().config()
    cfg.update(change)
    if cfg["label"] is None:
        del cfg["label"]

    with pytest.raises(ConfigError, match=message):
        parse_config(cfg)


# The rule is detector.events.event_time's (tests/test_events.py): one case of each kind here.
@pytest.mark.parametrize(
    "ts", [b"1e18", b"-1", b"7258118400", b'"9999-12-31T23:59:59-01:00"', b'"NaN"']
)
def test_label_times_outside_the_range_are_bad_time(ts: bytes) -> None:
    """A label time outside 1970 up to 2200 (or not a time) is bad_time, as for events."""
    decoder = LabelDecoder(_config())
    bad = b'{"event_id": "a", "ts": ' + ts + b', "label": 1}'
    good = b'{"event_id": "b", "ts": 7258118399.999, "label": 0}'

    result = decoder.decode([bad, good], [0.0, 0.0])

    assert result.batch.ids == ["b"] and result.batch.times.tolist() == [7258118399.999]
    [rejection] = result.rejections
    assert (rejection.position, rejection.reason) == (0, "bad_time")
    assert rejection.message.startswith(f"ts={orjson.loads(ts)!r} is ")
    assert len(rejection.message) <= 500
    if ts != b'"NaN"':
        assert "0 <= t < 7258118400" in rejection.message


def test_label_default_times_outside_the_range_are_bad_time() -> None:
    """Without a time path, a label record timestamp outside the range is bad_time."""
    config = _config()
    config = config.model_copy(update={"event": config.event.model_copy(update={"time": None})})
    decoder = LabelDecoder(config)
    record = b'{"event_id": "a", "label": 1}'
    defaults = [5.0, -0.001, 7258118400.0, float("nan")]

    result = decoder.decode([record] * 4, defaults)

    assert result.batch.times.tolist() == [5.0]
    assert [(r.position, r.reason) for r in result.rejections] == [
        (1, "bad_time"),
        (2, "bad_time"),
        (3, "bad_time"),
    ]
    assert result.rejections[0].message.startswith("record timestamp -0.001 s is outside")


_IDS: list[Any] = ["e-1", 7, -0, 1.5, True, None, {"a": 1}, [1], "", 'é"x']
_TIMES: list[Any] = ["2026-01-02T03:04:05Z", 1767323045, 1767323045000, 1.5e18, "noon", None]
_LABELS: dict[str, list[Any]] = {
    "binary": [True, False, 1, 0, "1", "0", "TRUE", " false ", 1.0, 0.0, 2, "yes", None, [1]],
    "categorical": ["a", 5411, 1.25, True, None, {"x": 1}, ""],
    "numeric": [1.5, -3, 0, True, "2", None, [2.0]],
}


@pytest.mark.parametrize("kind", ["binary", "categorical", "numeric"])
def test_native_label_decoding_equals_the_python_specification(kind: str) -> None:
    """Seeded records of every id, time and label shape (and garbage): the native path gives
    decode_python's batch and rejections exactly, messages included."""
    cfg = LabelledStream().config()
    cfg["label"].update({"type": kind, **({"tolerance": 0.5} if kind == "numeric" else {})})
    if kind == "categorical":
        cfg["prediction"] = {"path": "prediction.class", "type": "categorical"}
    elif kind == "numeric":
        cfg["prediction"] = {"path": "prediction.score", "type": "numeric"}
    decoder = LabelDecoder(parse_config(cfg))
    rng = np.random.default_rng(5)
    records: list[bytes | None] = [None, b"", b"{", b"[1]", b'"s"', b"x" * 2_000_000]
    for _ in range(2000):
        record: dict[str, Any] = {}
        for key, options in (("event_id", _IDS), ("ts", _TIMES), ("label", _LABELS[kind])):
            if rng.random() > 0.05:  # sometimes absent
                record[key] = options[int(rng.integers(len(options)))]
        records.append(orjson.dumps(record))
    times = [float(i) for i in range(len(records))]
    native, python = decoder.decode(records, times), decoder.decode_python(records, times)
    assert native.rejections == python.rejections
    assert native.batch.positions == python.batch.positions
    assert native.batch.ids == python.batch.ids and native.batch.values == python.batch.values
    assert native.batch.times.tolist() == python.batch.times.tolist()
    assert 0 < native.batch.size < len(records) and len({r.reason for r in native.rejections}) >= 4
