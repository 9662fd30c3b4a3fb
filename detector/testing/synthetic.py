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

from detector.alerts import rfc3339

START_TIME = 1_767_225_600.0  # 2026-01-01T00:00:00Z

DEFAULT_CATEGORIES = {"mcc": {"5411": 0.1, "5812": 0.4, "5999": 0.3, "4111": 0.2}}
DEFAULT_SEGMENTS = {
    "country": ["DE", "FR", "US", "GB", "ES", "IT", "NL", "PL", "SE", "BR"],
    "channel": ["web", "app", "pos"],
}


@dataclass(frozen=True)
class Drift:
    """A change starting at event ``start`` (stream index), optionally in one segment only.

    ``kind="mean"`` adds ``shift`` noise standard deviations to a numeric feature;
    ``kind="share"`` moves a categorical feature's ``category`` to share ``shift``.
    """

    feature: str
    start: int
    shift: float = 1.0
    segment: tuple[str, str] | None = None
    kind: Literal["mean", "share"] = "mean"
    category: str | None = None


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

    def _noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.noise == "student_t3":
            return np.asarray(rng.standard_t(3, n) / np.sqrt(3.0))  # unit variance
        return rng.standard_normal(n)

    def columns(self, n: int, drifts: Sequence[Drift] = ()) -> dict[str, Any]:
        """The stream as columns: ``segment.<name>``, ``<feature>`` and ``time`` arrays."""
        rng = np.random.default_rng(self.seed)
        cols: dict[str, Any] = {"time": START_TIME + np.arange(n) * self.seconds_per_event}
        for name, values in self.segments.items():
            cols[f"segment.{name}"] = np.asarray(values)[rng.integers(len(values), size=n)]
        for i, name in enumerate(self.numeric):
            loc = (i + 1) * 5.0 * self.scale
            cols[name] = loc + self.scale * self._noise(rng, n)
        for name, shares in self.categorical.items():
            labels = np.asarray(list(shares))
            p = np.asarray(list(shares.values()))
            cols[name] = labels[rng.choice(len(labels), size=n, p=p / p.sum())]
        for drift in drifts:
            mask = np.arange(n) >= drift.start
            if drift.segment is not None:
                mask &= cols[f"segment.{drift.segment[0]}"] == drift.segment[1]
            if drift.kind == "mean":
                cols[drift.feature] = cols[drift.feature] + mask * drift.shift * self.scale
            else:
                self._move_share(rng, cols, drift, mask)
        cols["prediction"] = 1.0 / (1.0 + np.exp(-rng.standard_normal(n)))
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
        score = cols["prediction"].tolist()
        for i in range(n):
            features: dict[str, Any] = {name: values[i] for name, values in num.items()}
            features.update({name: values[i] for name, values in cat.items()})
            yield {
                "event_id": f"e-{self.seed}-{i}",
                "ts": rfc3339(times[i]),
                "segment": {name: values[i] for name, values in seg.items()},
                "features": features,
                "prediction": {"score": score[i]},
            }


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
