"""Generate the published JSON Schemas in ``schemas/`` from the pydantic models.

``python -m detector.schemas`` (``make schemas``) rewrites them; ``tests/test_schemas.py`` fails
when a checked-in file differs from what the models generate.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from detector.alerts import alert_json_schema
from detector.config import Config

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"


def _config_schema() -> dict[str, Any]:
    schema = Config.model_json_schema()
    schema["$id"] = "urn:io.driftdetector:schema:config.v1"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "alert.v1.schema.json": alert_json_schema,
    "config.v1.schema.json": _config_schema,
}


def render(name: str) -> bytes:
    """The exact bytes of one schema file."""
    return orjson.dumps(SCHEMAS[name](), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name in SCHEMAS:
        (SCHEMA_DIR / name).write_bytes(render(name))
        print(f"wrote {SCHEMA_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
