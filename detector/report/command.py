"""``drift-detector report``: replay a file (and its labels) and write the report.

``--out`` writes the HTML page, ``--json`` the same content as JSON (both from one report dict);
``--labels`` joins label records as ``replay --labels`` does and adds the performance section.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector.config import Config
from detector.errors import ConfigError
from detector.inputs import iter_records
from detector.replay import read_lines, replay
from detector.report import render_page, to_json
from detector.report.data import build


def _write(path: Path, text: str, flag: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot write {path}: {exc.strerror}") from exc


def write_report(
    config: Config, source: str, out: Path | None, json_out: Path | None, labels: Path | None
) -> dict[str, Any]:
    """Replay ``source``, write the page and/or the JSON; the command's summary."""
    if out is None and json_out is None:
        raise ConfigError("report: give --out (HTML), --json (JSON), or both")
    if labels is not None and config.label is None:
        raise ConfigError("--labels: the config has no label section (label.path)")
    try:
        label_file = labels.open("rb") if labels is not None else None
    except OSError as exc:
        raise ConfigError(f"--labels: cannot read {labels}: {exc.strerror}") from exc
    try:
        label_lines = read_lines(label_file) if label_file is not None else None
        report = replay(config, iter_records(source), lambda alert: None, None, label_lines)
    finally:
        if label_file is not None:
            label_file.close()
    assert report.engine is not None
    data = build(report.engine, datetime.now(UTC).isoformat(timespec="seconds"))
    summary: dict[str, Any] = {"records": report.records, "alerts": report.alerts}
    if out is not None:
        _write(out, render_page(data), "--out")
        summary["out"] = str(out)
    if json_out is not None:
        _write(json_out, to_json(data), "--json")
        summary["json"] = str(json_out)
    if labels is not None:
        summary["labels"] = report.labels
    return summary
