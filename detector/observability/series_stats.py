"""The current drift statistics of one series, read at scrape time, and how close each is to
alerting.

The statistics use the names of the alert contract (``data.statistic``), so a gauge and the alert
it may become compare directly. Each has a value and, where the core compares it with a level,
that level (the threshold it alerts above):

- every series: the latest closed window's tests (``psi``, ``js``, ``ks``, ``wasserstein`` or
  ``chi_square``) against their levels at the test budget ``alpha``, already widened by the core
  for the reference's size and the series' measured dependence; the quality checks' rates
  (``missing_rate``, ``type_errors``, ``out_of_range``, ``constant``, ``unseen_categories``)
  against their beta-binomial critical rates;
- numeric series: ``cusum_sd``, Page-Hinkley's running value against its level
  (``detection.ph_threshold`` times the dependence inflation), and ``mean_score_sd``, the mean
  normal score of the last ``detection.window`` values: a description of the shift in reference
  standard deviations that no detector compares with a level, so it has no threshold;
- joint units (feature ``joint``, :mod:`detector.joint`): ``max_pair_z``, the latest window's
  largest pair |z| against the pair level.

Seasonal series are tested on adjusted values, so their statistics are the adjusted ones. ADWIN
decides inside the core without exposing a margin, so it has no statistic here.

:func:`alarm_statistics` keeps exactly the statistics the core decides on, each with its ratio
``value / threshold`` (above 1 it has fired); :func:`drift_alarm` is the strongest drift one.
The report, ``drift_series_statistic_threshold`` and the Grafana panel all use these.

A series still in warm-up has no statistic yet (an empty dict).

Every series publishes ``drift_statistics() -> Mapping[str, X]`` where ``X`` has ``value`` and
``threshold`` (a window test result), or is a ``(value, threshold)`` pair or a plain number.
A non-finite value is skipped, so a scrape never fails on one series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

DRIFT_TESTS = frozenset({"psi", "js", "ks", "wasserstein", "chi_square"})
QUALITY_CHECKS = frozenset(
    {"missing_rate", "type_errors", "out_of_range", "constant", "unseen_categories"}
)
# statistic -> the detector that compares it, where the names differ
DETECTOR_OF = {"cusum_sd": "page_hinkley", "max_pair_z": "correlation"}
DECIDED = DRIFT_TESTS | QUALITY_CHECKS | DETECTOR_OF.keys()


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
            # Only a level the core decides on is a threshold (mean_score_sd has none).
            decided = str(name) in DECIDED
            out[str(name)] = statistic if decided else Statistic(statistic.value)
    return out


class Alarm(NamedTuple):
    """A statistic the core decides on, its level, and ``ratio = value / threshold``."""

    statistic: str
    detector: str  # what the alert contract calls the decider (data.detector)
    kind: str  # drift or quality
    value: float
    threshold: float
    ratio: float


def alarm_statistics(series: Any) -> dict[str, Alarm]:
    """The statistics the core compares with a level, by name, with their ratios."""
    out = {}
    for name, stat in series_statistics(series).items():
        if stat.threshold is None or stat.threshold <= 0:
            continue
        kind = "quality" if name in QUALITY_CHECKS else "drift"
        detector = DETECTOR_OF.get(name, name)
        out[name] = Alarm(name, detector, kind, stat.value, stat.threshold, ratio_of(stat))
    return out


def ratio_of(stat: Any) -> float:
    """``value / threshold``: a window test fires above 1 (``Outcome::fired``: value >
    threshold), Page-Hinkley too (its value is non-negative)."""
    return float(stat.value) / float(stat.threshold)


def drift_alarm(series: Any) -> Alarm | None:
    """The drift statistic closest to (or furthest past) its level; None without one."""
    drift = [a for a in alarm_statistics(series).values() if a.kind == "drift"]
    return max(drift, key=lambda a: a.ratio, default=None)


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
