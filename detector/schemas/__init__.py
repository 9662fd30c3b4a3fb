"""The published JSON Schemas (``schemas/*.json``, shipped as ``detector/schemas/*.json``) and
their generator.

The schema files are package data: they ship inside the wheel and sdist, and :func:`load` reads
them the same way from a checkout and from an installed package (``importlib.resources``).
``python -m detector.schemas`` (``make schemas``) regenerates them from the pydantic models;
``tests/test_schemas.py`` fails when a checked-in file (either copy) differs from what the models
generate.

>>> load("alert.v1.schema.json")["$id"]
'urn:io.driftdetector:schema:alert.v1'
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from detector.alerts import alert_json_schema
from detector.config import Config

# Where `make schemas` writes: this package's directory (shipped in the wheel) and, in a
# checkout, the top-level schemas/ that producers and consumers are pointed at. Both are
# generated from the models, which stay the one source of truth.
SCHEMA_DIR = Path(__file__).resolve().parent
PUBLISHED_DIR = SCHEMA_DIR.parents[1] / "schemas"


def _config_schema() -> dict[str, Any]:
    schema = Config.model_json_schema()
    schema["$id"] = "urn:io.driftdetector:schema:config.v1"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "alert.v1.schema.json": alert_json_schema,
    "config.v1.schema.json": _config_schema,
}


def load(name: str) -> dict[str, Any]:
    """One published schema (e.g. ``alert.v1.schema.json``), read from the installed package."""
    if name not in SCHEMAS:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(sorted(SCHEMAS))}")
    data: dict[str, Any] = orjson.loads(resources.files(__name__).joinpath(name).read_bytes())
    return data


def render(name: str) -> bytes:
    """The exact bytes of one schema file."""
    return orjson.dumps(SCHEMAS[name](), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main() -> int:
    targets = [SCHEMA_DIR] + ([PUBLISHED_DIR] if PUBLISHED_DIR.is_dir() else [])
    for directory in targets:
        for name in SCHEMAS:
            (directory / name).write_bytes(render(name))
            print(f"wrote {directory / name}")
    return 0
