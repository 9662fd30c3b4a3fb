"""``drift-detector replay --labels``: performance alerts on stdout, the join in the summary."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator

from detector.cli import main
from detector.config import load_config
from detector.engine import build_engine
from detector.testing.labelled import ErrorChange, LabelledStream

ROOT = Path(__file__).resolve().parents[2]


def _files(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, object]]:
    stream = LabelledStream(seed=11, label_delay=(0.0, 20.0), lost=0.05)
    changes = [ErrorChange(6_000, 0.3)]
    events, labels = stream.events(15_000, changes), stream.labels(15_000, changes)
    events_file, labels_file = tmp_path / "events.jsonl", tmp_path / "labels.jsonl"
    events_file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    lines = [orjson.dumps(lab) + b"\n" for lab in labels] + [b'{"event_id": "z", "label": 1}\n']
    labels_file.write_bytes(b"".join(lines))
    cfg = stream.config("fraud")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return config_file, events_file, labels_file, cfg


def test_replay_with_labels_prints_performance_alerts_and_join_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Valid alerts of kind performance on stdout; matched and rejected counts on stderr."""
    config, events, labels, _ = _files(tmp_path)

    code = main(
        ["replay", "--config", str(config), "--input", str(events), "--labels", str(labels)]
    )

    out, err = capsys.readouterr()
    assert code == 0, err
    alerts = [orjson.loads(line) for line in out.splitlines()]
    schema = json.loads((ROOT / "detector" / "schemas" / "alert.v1.schema.json").read_text())
    for alert in alerts:
        Draft202012Validator(schema).validate(alert)
    keys = {a["data"]["dedup_key"] for a in alerts if a["data"]["kind"] == "performance"}
    assert "fraud/performance/error/all" in keys
    summary = json.loads(err.split("replay summary: ", 1)[1].splitlines()[0])
    block = summary["labels"]
    assert block["rejected"] == {"bad_time": 1}
    assert block["matched"] == block["labels"] > 0.9 * 15_000
    assert block["firing"]["error"][0] == "all"
    assert 0.1 < block["metrics"]["error_rate"] < 0.3


def test_labels_without_a_label_section_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--labels with a config that has no label: exit 2 and say what is missing."""
    config, events, labels, cfg = _files(tmp_path)
    del cfg["label"]
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")

    code = main(
        ["replay", "--config", str(config), "--input", str(events), "--labels", str(labels)]
    )

    assert code == 2
    assert "label section" in capsys.readouterr().err


def test_baseline_summarises_training_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Training rows with a label: the baseline file records label shares and training
    metrics, and still loads as a baseline."""
    stream = LabelledStream(seed=12)
    rows = stream.events(4000)
    for row, label in zip(rows, stream.columns(4000)["actual"].tolist(), strict=True):
        row["label"] = int(label)
    training = tmp_path / "train.jsonl"
    training.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    cfg = stream.config("fraud")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    out = tmp_path / "baseline.json"

    code = main(["baseline", "--config", str(config), "--input", str(training), "--out", str(out)])

    assert code == 0, capsys.readouterr().err
    labels = orjson.loads(out.read_bytes())["labels"]
    assert labels["count"] == 4000
    assert 0.25 < labels["shares"]["1"] < 0.35
    assert 0.08 < labels["metrics"]["error_rate"] < 0.12
    cfg["baseline"] = str(out)
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    engine = build_engine(load_config(config))
    assert engine.baseline is not None and engine.baseline.references
