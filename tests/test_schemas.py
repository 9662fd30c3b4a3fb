"""The checked-in JSON Schemas are exactly what the pydantic models generate."""

from __future__ import annotations

import pytest

from detector.schemas import SCHEMA_DIR, SCHEMAS, render


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_file_is_up_to_date(name: str) -> None:
    """Fails when a model changed without `make schemas`."""
    path = SCHEMA_DIR / name
    assert path.exists(), f"{path} is missing: run `make schemas`"
    assert path.read_bytes() == render(name), f"{path} is stale: run `make schemas`"
