"""The checked-in JSON Schemas are exactly what the pydantic models generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.schemas import PUBLISHED_DIR, SCHEMA_DIR, SCHEMAS, render


@pytest.mark.parametrize("directory", [SCHEMA_DIR, PUBLISHED_DIR], ids=["package", "published"])
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_file_is_up_to_date(name: str, directory: Path) -> None:
    """Fails when a model changed without `make schemas` (the top-level copy and the one the
    wheel ships)."""
    path = directory / name
    assert path.exists(), f"{path} is missing: run `make schemas`"
    assert path.read_bytes() == render(name), f"{path} is stale: run `make schemas`"
