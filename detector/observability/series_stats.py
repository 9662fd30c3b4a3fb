"""The current drift statistics of one series, read at scrape time.

The statistics use the names of the alert contract (``data.statistic``), so a gauge and the alert
it may become compare directly. Each has a value and, where known, the threshold it alerts above:

- numeric series: ``cusum_sd``, the Page-Hinkley test value (threshold
  ``detection.ph_threshold``), and ``mean_score_sd``, the mean normal score of the last
  ``detection.window`` values (about the mean shift in reference standard deviations);
- every series: the latest closed window's tests (``psi``, ``js``, ``ks``, ``wasserstein`` or
  ``chi_square``, and the quality checks' rates).

A series still in warm-up has no statistic yet (an empty dict).

Every series publishes ``drift_statistics() -> Mapping[str, X]`` where ``X`` has ``value`` and
``threshold`` (a window test result), or is a ``(value, threshold)`` pair or a plain number.
A non-finite value is skipped, so a scrape never fails on one series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple


class Statistic(NamedTuple):
    """A drift statistic's current value, and the level it alerts above (None if unknown)."""

    value: float
    threshold: float | None = None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _statistic(item: Any) -> Statistic | None:
    if isinstance(item, tuple) and len(item) == 2:
        value, threshold = item
    elif hasattr(item, "value"):
        value, threshold = item.value, getattr(item, "threshold", None)
    else:
        value, threshold = item, None
    number = _number(value)
    return None if number is None else Statistic(number, _number(threshold))


def series_statistics(series: Any) -> dict[str, Statistic]:
    """Current drift statistics of a series by name; empty while it warms up."""
    if getattr(series, "reference", None) is None:
        return {}
    published = getattr(series, "drift_statistics", None)
    raw: Mapping[str, Any] = published() if callable(published) else {}
    out = {}
    for name, item in raw.items():
        statistic = _statistic(item)
        if statistic is not None:
            out[str(name)] = statistic
    return out


def firing_alerts(series: Any) -> list[tuple[str, str]]:
    """(kind, severity) of every alert of this series that is firing now.

    Reads ``series.lifecycles`` (alert key -> lifecycle; the key ``drift`` is the drift alert,
    any other a quality check) or, failing that, a single ``series.lifecycle`` (drift).
    """
    lifecycles = getattr(series, "lifecycles", None)
    if isinstance(lifecycles, Mapping):
        pairs = [
            ("drift" if key == "drift" else "quality", life)
            for key, life in list(lifecycles.items())
        ]
    else:
        life = getattr(series, "lifecycle", None)
        pairs = [] if life is None or callable(life) else [("drift", life)]
    return [
        (kind, str(getattr(life, "severity", "warning")))
        for kind, life in pairs
        if getattr(life, "firing", False)
    ]
