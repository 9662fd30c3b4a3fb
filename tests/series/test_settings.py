"""Settings cross into the Rust core as typed, checked objects, not dicts read by key."""

from __future__ import annotations

from typing import Any

import pytest

from detector._native import CategoricalSettings, NumericSettings, WindowSettings

WINDOWS: dict[str, Any] = {
    "window": 500,
    "window_seconds": None,
    "min_window_values": 50,
    "resolve_windows": 3,
    "critical_shift": 1.0,
    "alpha": 1e-6,
    "resolve_alpha": 1e-3,
    "chi2_level": 60.0,
    "chi2_resolve_level": 40.0,
    "missing": (0.5, 100.0),
    "type_errors": (0.5, 100.0),
    "missing_inflation": 1.0,
}


def test_a_misspelt_or_missing_setting_is_a_type_error_naming_it() -> None:
    """A wrong keyword, a missing one, or a positional call fails where the settings are made."""
    with pytest.raises(TypeError, match="windw"):
        WindowSettings(**{**WINDOWS, "windw": 500})
    missing = {k: v for k, v in WINDOWS.items() if k != "alpha"}
    with pytest.raises(TypeError, match="alpha"):
        WindowSettings(**missing)
    with pytest.raises(TypeError):
        WindowSettings(*WINDOWS.values())  # type: ignore[misc]


def test_values_are_checked_once_at_construction() -> None:
    """Out-of-range values are refused by name: a level outside (0, 1), a bad prior, an
    unknown range check, an inflation below 1."""
    with pytest.raises(ValueError, match="alpha"):
        WindowSettings(**{**WINDOWS, "alpha": 1.5})
    with pytest.raises(ValueError, match="missing"):
        WindowSettings(**{**WINDOWS, "missing": (0.0, 1.0)})
    windows = WindowSettings(**WINDOWS)
    numeric = {"warmup": 1000, "adwin_delta": 1e-5, "ph_delta": 0.25, "ph_threshold": 50.0}
    with pytest.raises(ValueError, match="range"):
        NumericSettings(windows=windows, range=("between", 0.0, 0.0), **numeric)
    NumericSettings(windows=windows, range=("off", 0.0, 0.0), **numeric)
    with pytest.raises(ValueError, match="inflation"):
        CategoricalSettings(windows=windows, unseen=(0.5, 10.0), inflation=0.5)
