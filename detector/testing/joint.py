"""Seeded streams for what the marginals cannot see: correlated features whose correlation
changes (each marginal unchanged), and a calibrated classifier whose accuracy drops, either
because its inputs moved (covariate shift: calibrated scores see it coming) or because the
world changed (concept change: the scores cannot).

Features come from a Gaussian copula: a correlated normal vector ``z`` (unit variances),
turned into each feature's marginal (``amount`` log-normal, the others normal with their own
scale), so a correlation change leaves every marginal exactly as it was. The classifier's score
is ``sigmoid(w . z)``; labels are drawn from that same probability, so the score is calibrated
until a :class:`ConceptChange` flips a share of the labels.

>>> stream = JointStream(seed=1)
>>> before = stream.columns(20_000)
>>> after = stream.columns(20_000, [CorrelationChange(0, ("amount", "latency"), -0.6)])
>>> round(float(np.corrcoef(before["z.amount"], before["z.latency"])[0, 1]), 1)
0.6
>>> round(float(np.corrcoef(after["z.amount"], after["z.latency"])[0, 1]), 1)
-0.6
>>> round(float(np.std(before["amount"]) / np.std(after["amount"])), 1)  # marginal unchanged
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector.testing.labelled import START_MS

FEATURES = ("amount", "latency", "income", "age")
_CORRELATION = {("amount", "latency"): 0.6, ("income", "age"): 0.4}
_WEIGHTS = {"amount": 1.5, "latency": -1.0, "income": 0.8, "age": 0.5}


@dataclass(frozen=True)
class CorrelationChange:
    """From stream index ``start`` on, the copula correlation of ``pair`` is ``rho`` (in one
    segment only when ``segment`` is given); marginals do not move."""

    start: int
    pair: tuple[str, str]
    rho: float
    segment: tuple[str, str] | None = None


@dataclass(frozen=True)
class CovariateShift:
    """From ``start`` on, ``feature``'s copula value is ``shrink`` times itself plus
    ``shift``: moving inputs towards the decision boundary lowers accuracy, and calibrated
    scores show it."""

    start: int
    feature: str
    shift: float = 0.0
    shrink: float = 1.0


@dataclass(frozen=True)
class ConceptChange:
    """From ``start`` on, a share ``flip`` of the labels is flipped: accuracy drops while the
    inputs and scores stay as they were (no estimate from scores can see it)."""

    start: int
    flip: float


Change = CorrelationChange | CovariateShift | ConceptChange


@dataclass
class JointStream:
    """Four correlated numeric features, a country segment, a calibrated score and labels."""

    countries: Sequence[str] = ("DE", "FR", "US")
    correlation: dict[tuple[str, str], float] = field(default_factory=lambda: dict(_CORRELATION))
    seed: int = 0
    ms_per_event: int = 10

    def _covariance(self, overrides: dict[tuple[str, str], float]) -> np.ndarray:
        k = len(FEATURES)
        cov = np.eye(k)
        for (a, b), rho in {**self.correlation, **overrides}.items():
            i, j = FEATURES.index(a), FEATURES.index(b)
            cov[i, j] = cov[j, i] = rho
        return cov

    def columns(self, n: int, changes: Sequence[Change] = ()) -> dict[str, np.ndarray]:
        """Columns: ``time``, ``segment.country``, ``z.<f>`` (copula), ``<f>``, ``score``,
        ``label`` and ``predicted``."""
        rng = np.random.default_rng(self.seed)
        country = np.asarray(self.countries)[rng.integers(len(self.countries), size=n)]
        white = rng.standard_normal((n, len(FEATURES)))
        z = white @ np.linalg.cholesky(self._covariance({})).T
        for change in changes:
            if isinstance(change, CorrelationChange):
                rows = np.arange(n) >= change.start
                if change.segment is not None:
                    rows &= country == change.segment[1]
                changed = self._covariance({change.pair: change.rho})
                z[rows] = white[rows] @ np.linalg.cholesky(changed).T
        for change in changes:
            if isinstance(change, CovariateShift):
                i = FEATURES.index(change.feature)
                z[change.start :, i] = change.shrink * z[change.start :, i] + change.shift
        logit = z @ np.array([_WEIGHTS[f] for f in FEATURES])
        score = 1.0 / (1.0 + np.exp(-logit))
        label = (rng.random(n) < score).astype(np.int64)
        for change in changes:
            if isinstance(change, ConceptChange):
                flip = (np.arange(n) >= change.start) & (rng.random(n) < change.flip)
                label[flip] = 1 - label[flip]
        cols: dict[str, np.ndarray] = {
            "time": (START_MS + np.arange(n) * self.ms_per_event) / 1000.0,
            "segment.country": country,
            "score": score,
            "label": label,
            "predicted": (score >= 0.5).astype(np.int64),
        }
        scales = {"latency": 30.0, "income": 2000.0, "age": 12.0}
        for i, name in enumerate(FEATURES):
            cols[f"z.{name}"] = z[:, i]
            value = np.exp(3.0 + 0.5 * z[:, i]) if name == "amount" else scales[name] * z[:, i]
            cols[name] = value + (0.0 if name == "amount" else 4.0 * scales[name])
        return cols

    def events(self, n: int, changes: Sequence[Change] = ()) -> list[dict[str, Any]]:
        """Inference events (event_id, ts, segment, features, prediction.score)."""
        c = self.columns(n, changes)
        return [
            {
                "event_id": f"e-{i}",
                "ts": float(c["time"][i]),
                "segment": {"country": str(c["segment.country"][i])},
                "features": {f: float(c[f][i]) for f in FEATURES},
                "prediction": {"score": float(c["score"][i])},
            }
            for i in range(n)
        ]

    def labels(self, n: int, changes: Sequence[Change] = ()) -> list[dict[str, Any]]:
        """Each event's label, at its event time (no delay)."""
        c = self.columns(n, changes)
        return [
            {"event_id": f"e-{i}", "ts": float(c["time"][i]), "label": int(c["label"][i])}
            for i in range(n)
        ]

    def training(self, n: int, changes: Sequence[Change] = ()) -> list[dict[str, Any]]:
        """Training rows: each event with its label (what ``drift-detector baseline`` reads
        to calibrate estimated performance)."""
        c = self.columns(n, changes)
        return [
            {**event, "label": int(label)}
            for event, label in zip(self.events(n, changes), c["label"].tolist(), strict=True)
        ]

    def config(self) -> dict[str, Any]:
        """A config (as parsed YAML) monitoring the four features and the score, with labels."""
        return {
            "model": "joint",
            "event": {"id": "event_id", "time": "ts"},
            "segments": [{"name": "country", "path": "segment.country"}],
            "features": [{"name": f, "path": f"features.{f}", "type": "numeric"} for f in FEATURES],
            "prediction": {"path": "prediction.score", "type": "numeric", "threshold": 0.5},
            "label": {"path": "label", "type": "binary"},
        }
