"""Field types shared by the router's config models: durations, names, URLs, strict models.

Durations are seconds or a number with a unit, as Alertmanager writes them:

>>> seconds("5m"), seconds(2.5), seconds("250ms")
(300.0, 2.5, 0.25)
>>> seconds("soon")
Traceback (most recent call last):
ValueError: 'soon' is not a duration like 30s, 5m or 4h
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def seconds(value: Any) -> Any:
    """``30``, ``"30s"``, ``"500ms"``, ``"5m"``, ``"4h"`` or ``"1d"`` as seconds."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration like 30s, 5m or 4h")
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return value


Duration = Annotated[float, BeforeValidator(seconds), Field(ge=0)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
Url = Annotated[str, Field(pattern=r"^https?://\S+$")]


class Strict(BaseModel):
    """Unknown keys are errors (a typo never silently falls back to a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
