"""Training-data readers: JSON lines, CSV and (with pyarrow installed) Parquet, as JSON records.

Every reader yields one JSON object (bytes) per row, so the config's dotted paths apply to
training data exactly as to live events.

- **JSON lines** (``.jsonl``, ``.json``, ``.ndjson``, or ``-`` for stdin): lines pass through.
- **CSV** (``.csv``): a column named with a dotted path (``features.amount``) becomes a nested
  key; empty cells are missing; cells that parse as numbers become numbers.
- **Parquet** (``.parquet``, needs the optional ``parquet`` extra): nested columns stay nested.

>>> csv_cell("12"), csv_cell("1.5e3"), csv_cell(""), csv_cell("DE")
(12, 1500.0, None, 'DE')
>>> nest({"segment.country": "DE", "features.amount": 3})
{'segment': {'country': 'DE'}, 'features': {'amount': 3}}
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import orjson

from detector.errors import ConfigError

JSON_SUFFIXES = {".jsonl", ".json", ".ndjson"}


def csv_cell(text: str) -> Any:
    """A CSV cell as JSON would carry it: None when empty, a number when it reads as one."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def nest(row: dict[str, Any]) -> dict[str, Any]:
    """Turn dotted column names into nested objects."""
    out: dict[str, Any] = {}
    for column, value in row.items():
        *parents, leaf = column.split(".")
        node = out
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--input: column {column!r} clashes with column {part!r}")
            node = child
        node[leaf] = value
    return out


def _csv_records(stream: TextIO) -> Iterator[bytes]:
    for row in csv.DictReader(stream):
        yield orjson.dumps(nest({k: csv_cell(v or "") for k, v in row.items() if k}))


def _parquet_records(path: Path) -> Iterator[bytes]:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ConfigError(
            "--input: reading Parquet needs pyarrow: pip install 'kafka-drift-detector[parquet]'"
        ) from exc
    for batch in pq.ParquetFile(path).iter_batches():
        for row in batch.to_pylist():
            yield orjson.dumps(nest(row), option=orjson.OPT_NON_STR_KEYS)


def iter_records(source: str) -> Iterator[bytes]:
    """JSON records from a file (format by suffix) or from stdin (``-``, JSON lines)."""
    if source == "-":
        yield from (line for line in sys.stdin.buffer if line.strip())
        return
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"--input: {source} is not a readable file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as stream:
            yield from _csv_records(stream)
    elif suffix == ".parquet":
        yield from _parquet_records(path)
    elif suffix in JSON_SUFFIXES:
        with path.open("rb") as lines:
            yield from (line for line in lines if line.strip())
    else:
        raise ConfigError(f"--input: {source}: use .jsonl, .csv or .parquet")
