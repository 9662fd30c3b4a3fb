"""Seeded synthetic inference streams with known change points, for tests, demos and benchmarks.

Events look like what the example config (``examples/fraud.yaml``) reads::

    {"event_id": "e-42", "ts": "2026-01-01T00:00:42.000Z",
     "segment": {"country": "DE", "channel": "web"},
     "features": {"amount": 103.2, "mcc": "5411", ...}, "prediction": {"score": 0.12}}

>>> stream = SyntheticStream(numeric=["amount"], categorical={}, segments={"country": ["DE"]})
>>> event = next(iter(stream.events(1)))
>>> sorted(event), sorted(event["features"])
(['event_id', 'features', 'prediction', 'segment', 'ts'], ['amount'])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.signal import lfilter

from detector.alerts import rfc3339
from detector.columns import Categories
from detector.events import EventBatch

START_TIME = 1_767_225_600.0  # 2026-01-01T00:00:00Z

DEFAULT_CATEGORIES = {"mcc": {"5411": 0.1, "5812": 0.4, "5999": 0.3, "4111": 0.2}}
DEFAULT_SEGMENTS = {
    "country": ["DE", "FR", "US", "GB", "ES", "IT", "NL", "PL", "SE", "BR"],
    "channel": ["web", "app", "pos"],
}


@dataclass(frozen=True)
class Drift:
    """A change starting at event ``start`` (stream index), optionally in one segment only.

    - ``mean``: adds ``shift`` noise standard deviations to a numeric feature;
    - ``ramp``: the same, reached linearly over ``duration`` events;
    - ``scale``: multiplies the noise by ``shift`` (2 ** 0.5 doubles the variance);
    - ``share``: moves a categorical feature's ``category`` to share ``shift``;
    - ``missing``: the feature is absent with probability ``shift``;
    - ``strings``: the numeric feature arrives as a JSON string;
    - ``silence``: the segment's events stop (``feature`` is ignored);
    - ``couple``: the numeric feature's noise becomes correlated ``shift`` with ``partner``'s
      (``shift * partner + sqrt(1 - shift ** 2) * own``): its marginal does not move, only the
      joint distribution does.
    """

    feature: str
    start: int
    shift: float = 1.0
    segment: tuple[str, str] | None = None
    kind: Literal["mean", "ramp", "scale", "share", "missing", "strings", "silence", "couple"] = (
        "mean"
    )
    category: str | None = None
    duration: int = 1
    partner: str | None = None  # ``couple``: the feature whose noise it follows


@dataclass
class SyntheticStream:
    """Numeric features are ``loc + scale * noise``; categories are drawn from fixed shares."""

    numeric: Sequence[str] = ("amount",)
    categorical: dict[str, dict[str, float]] = field(
        default_factory=lambda: dict(DEFAULT_CATEGORIES)
    )
    segments: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_SEGMENTS))
    scale: float = 1.0
    noise: Literal["normal", "student_t3"] = "normal"
    seed: int = 0
    seconds_per_event: float = 0.01
    missing: dict[str, float] = field(default_factory=dict)  # base missing rate per feature
    ar: float = 0.0  # lag-1 autocorrelation of the numeric noise, in stream order

    def _noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.noise == "student_t3":
            noise = np.asarray(rng.standard_t(3, n) / np.sqrt(3.0))  # unit variance
        else:
            noise = rng.standard_normal(n)
        if self.ar:  # AR(1) over the stream's order, still of unit variance
            noise, _ = lfilter([np.sqrt(1 - self.ar**2)], [1.0, -self.ar], noise, zi=[0.0])
        return np.asarray(noise)

    def columns(self, n: int, drifts: Sequence[Drift] = ()) -> dict[str, Any]:
        """The stream as columns: ``segment.<name>``, ``<feature>`` and ``time`` arrays."""
        rng = np.random.default_rng(self.seed)
        cols: dict[str, Any] = {"time": START_TIME + np.arange(n) * self.seconds_per_event}
        for name, values in self.segments.items():
            cols[f"segment.{name}"] = np.asarray(values)[rng.integers(len(values), size=n)]
        noise: dict[str, np.ndarray] = {}
        for i, name in enumerate(self.numeric):
            loc = (i + 1) * 5.0 * self.scale
            noise[name] = self.scale * self._noise(rng, n)
            cols[name] = loc + noise[name]
        for name, shares in self.categorical.items():
            labels = np.asarray(list(shares))
            p = np.asarray(list(shares.values()))
            cols[name] = labels[rng.choice(len(labels), size=n, p=p / p.sum())]
        names = [*self.numeric, *self.categorical]
        missing = {name: rng.random(n) < self.missing.get(name, 0.0) for name in names}
        strings = {name: np.zeros(n, dtype=bool) for name in self.numeric}
        keep = np.ones(n, dtype=bool)
        index = np.arange(n)
        for drift in drifts:
            mask = index >= drift.start
            if drift.segment is not None:
                mask &= cols[f"segment.{drift.segment[0]}"] == drift.segment[1]
            if drift.kind == "mean":
                cols[drift.feature] = cols[drift.feature] + mask * drift.shift * self.scale
            elif drift.kind == "ramp":
                progress = np.clip((index - drift.start) / max(drift.duration, 1), 0.0, 1.0)
                cols[drift.feature] = (
                    cols[drift.feature] + mask * progress * drift.shift * self.scale
                )
            elif drift.kind == "scale":
                extra = noise[drift.feature] * (drift.shift - 1.0)
                cols[drift.feature] = cols[drift.feature] + mask * extra
            elif drift.kind == "share":
                self._move_share(rng, cols, drift, mask)
            elif drift.kind == "missing":
                missing[drift.feature] |= mask & (rng.random(n) < drift.shift)
            elif drift.kind == "strings":
                strings[drift.feature] |= mask
            elif drift.kind == "couple":
                if drift.partner not in noise:
                    raise ValueError(f"couple needs a numeric partner, not {drift.partner!r}")
                mixed = (
                    drift.shift * noise[drift.partner]
                    + np.sqrt(1 - drift.shift**2) * (noise[drift.feature])
                )
                cols[drift.feature] = cols[drift.feature] + mask * (mixed - noise[drift.feature])
            else:
                keep &= ~mask
        cols["prediction"] = 1.0 / (1.0 + np.exp(-rng.standard_normal(n)))
        cols["__missing__"] = missing
        cols["__strings__"] = strings
        if not keep.all():
            cols = {k: _filter(v, keep) for k, v in cols.items()}
            cols["time"] = START_TIME + np.flatnonzero(keep) * self.seconds_per_event
        return cols

    def _move_share(
        self, rng: np.random.Generator, cols: dict[str, Any], drift: Drift, mask: np.ndarray
    ) -> None:
        shares = self.categorical[drift.feature]
        if drift.category not in shares:
            raise ValueError(f"{drift.category!r} is not a category of {drift.feature}")
        others = {c: p for c, p in shares.items() if c != drift.category}
        scale = (1.0 - drift.shift) / sum(others.values())
        labels = np.asarray([drift.category, *others])
        p = np.asarray([drift.shift, *(v * scale for v in others.values())])
        redrawn = labels[rng.choice(len(labels), size=int(mask.sum()), p=p)]
        column = cols[drift.feature].astype(object)
        column[mask] = redrawn
        cols[drift.feature] = column

    def events(self, n: int, drifts: Sequence[Drift] = ()) -> Iterator[dict[str, Any]]:
        """Yield ``n`` event objects in stream order."""
        cols = self.columns(n, drifts)
        times = cols["time"].tolist()
        seg = {name: cols[f"segment.{name}"].tolist() for name in self.segments}
        num = {name: cols[name].tolist() for name in self.numeric}
        cat = {name: cols[name].tolist() for name in self.categorical}
        absent = _rows_by_index(cols["__missing__"])
        quoted = _rows_by_index(cols["__strings__"])
        score = cols["prediction"].tolist()
        for i in range(len(times)):
            features: dict[str, Any] = {name: values[i] for name, values in num.items()}
            features.update({name: values[i] for name, values in cat.items()})
            for name in quoted.get(i, ()):
                features[name] = str(features[name])
            for name in absent.get(i, ()):
                del features[name]
            yield {
                "event_id": f"e-{self.seed}-{i}",
                "ts": rfc3339(times[i]),
                "segment": {name: values[i] for name, values in seg.items()},
                "features": features,
                "prediction": {"score": score[i]},
            }


def _rows_by_index(masks: dict[str, np.ndarray]) -> dict[int, list[str]]:
    rows: dict[int, list[str]] = {}
    for name, mask in masks.items():
        for i in np.flatnonzero(mask).tolist():
            rows.setdefault(i, []).append(name)
    return rows


def event_batches(
    stream: SyntheticStream, n: int, drifts: Sequence[Drift] = (), size: int = 5000
) -> Iterator[EventBatch]:
    """The stream as decoded micro-batches (what the decoder would produce), skipping JSON.

    Field names follow :func:`config_dict`; for large acceptance tests, where encoding and
    decoding JSON would dominate the run time. Schema samples are not produced.
    """
    cols = stream.columns(n, drifts)
    total = len(cols["time"])
    for start in range(0, total, size):
        part = slice(start, min(start + size, total))
        numeric, errors, categorical = {}, {}, {}
        for name in stream.numeric:
            gone, text = cols["__missing__"][name][part], cols["__strings__"][name][part]
            numeric[name] = np.where(gone | text, np.nan, cols[name][part])
            errors[name] = text & ~gone
        for name in stream.categorical:
            gone = cols["__missing__"][name][part]
            values = cols[name][part].tolist()
            categorical[name] = Categories.from_values(
                [None if g else v for v, g in zip(values, gone.tolist(), strict=True)]
            )
            errors[name] = np.zeros(len(values), dtype=bool)
        count = part.stop - part.start
        yield EventBatch(
            positions=list(range(count)),
            times=cols["time"][part],
            ids=[None] * count,
            segments={
                d: Categories.from_values(cols[f"segment.{d}"][part].tolist())
                for d in stream.segments
            },
            numeric=numeric,
            type_errors=errors,
            categorical=categorical,
        )


def _filter(value: Any, keep: np.ndarray) -> Any:
    if isinstance(value, dict):
        return {k: v[keep] for k, v in value.items()}
    return value[keep]


def config_dict(
    stream: SyntheticStream, model: str = "synthetic", topics: dict[str, str] | None = None
) -> dict[str, Any]:
    """A config (as parsed YAML) that monitors every field of ``stream``."""
    features = [
        {"name": name, "path": f"features.{name}", "type": "numeric"} for name in stream.numeric
    ] + [
        {"name": name, "path": f"features.{name}", "type": "categorical"}
        for name in stream.categorical
    ]
    return {
        "model": model,
        "topics": topics or {"events": "events", "alerts": "alerts", "dead_letter": "dlq"},
        "event": {"id": "event_id", "time": "ts"},
        "segments": [{"name": n, "path": f"segment.{n}"} for n in stream.segments],
        "features": features,
    }
