"""Seeded streams for estimated performance beyond the binary classifier of :mod:`.joint`.

- :class:`RegressionStream`: ``y = 2 x + noise`` whose spread grows with ``|x|``; the model
  predicts ``2 x``. A :class:`Shift` of ``x`` moves predictions where the errors are larger, so
  the MAE rises and a loss table learned on training rows (DLE) sees it coming.
- :class:`ClassStream`: three classes from a softmax of two features; the model predicts the
  most probable class with its probability as confidence (calibrated). A :class:`Shift` that
  shrinks the features towards the origin (the decision boundaries) lowers accuracy. With
  ``probabilities=True`` its events also carry every class's probability (the softmax, so
  calibrated) at ``prediction.proba.<class>`` and its config reads them
  (``prediction.probabilities``) instead of the confidence; the draws are the same.

Both give events, labels and training rows (events with their label) as JSON objects, and
``columns`` to compute realised metrics directly.

>>> c = RegressionStream(seed=1).columns(20_000)
>>> round(float(np.mean(np.abs(c["label"] - c["predicted"]))), 2)
0.71
>>> c = ClassStream(seed=1).columns(20_000)
>>> round(float(np.mean(c["label"] == c["predicted"])), 2)
0.78
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from detector.testing.labelled import START_MS

_CENTRES = np.array([[0.0, 2.0], [-1.7, -1.0], [1.7, -1.0]])  # class logit weights (3 x 2)


@dataclass(frozen=True)
class Shift:
    """From ``start`` on, the features are ``shrink`` times themselves plus ``shift``."""

    start: int
    shift: float = 0.0
    shrink: float = 1.0


@dataclass
class _Stream:
    countries: Sequence[str] = ("DE", "FR", "US")
    seed: int = 0
    ms_per_event: int = 10

    def _base(self, n: int, width: int) -> tuple[np.random.Generator, dict[str, np.ndarray]]:
        rng = np.random.default_rng(self.seed)
        cols = {
            "time": (START_MS + np.arange(n) * self.ms_per_event) / 1000.0,
            "segment.country": np.asarray(self.countries)[
                rng.integers(len(self.countries), size=n)
            ],
            "x": rng.standard_normal((n, width)),
        }
        return rng, cols

    @staticmethod
    def _shifted(x: np.ndarray, changes: Sequence[Shift]) -> np.ndarray:
        for change in changes:
            x[change.start :] = change.shrink * x[change.start :] + change.shift
        return x

    def columns(self, n: int, changes: Sequence[Shift] = ()) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _event(self, c: dict[str, np.ndarray], i: int) -> dict[str, Any]:
        raise NotImplementedError

    def events(self, n: int, changes: Sequence[Shift] = ()) -> list[dict[str, Any]]:
        """Inference events (event_id, ts, segment, features, prediction)."""
        c = self.columns(n, changes)
        return [self._event(c, i) for i in range(n)]

    def labels(self, n: int, changes: Sequence[Shift] = ()) -> list[dict[str, Any]]:
        """Each event's label, at its event time (no delay)."""
        c = self.columns(n, changes)
        return [
            {"event_id": f"e-{i}", "ts": float(c["time"][i]), "label": c["label"][i].item()}
            for i in range(n)
        ]

    def training(self, n: int, changes: Sequence[Shift] = ()) -> list[dict[str, Any]]:
        """Training rows: each event with its label."""
        c = self.columns(n, changes)
        return [{**self._event(c, i), "label": c["label"][i].item()} for i in range(n)]

    def _common(self, c: dict[str, np.ndarray], i: int) -> dict[str, Any]:
        return {
            "event_id": f"e-{i}",
            "ts": float(c["time"][i]),
            "segment": {"country": str(c["segment.country"][i])},
            "features": {f"x{j}": float(v) for j, v in enumerate(c["x"][i])},
        }


@dataclass
class RegressionStream(_Stream):
    """One feature, a prediction ``2 x`` and a label whose noise grows with ``|x|``."""

    def columns(self, n: int, changes: Sequence[Shift] = ()) -> dict[str, np.ndarray]:
        rng, cols = self._base(n, 1)
        x = self._shifted(cols["x"], changes)
        spread = 0.5 + 0.5 * np.abs(x[:, 0])
        cols["predicted"] = 2.0 * x[:, 0]
        cols["label"] = cols["predicted"] + spread * rng.standard_normal(n)
        return cols

    def _event(self, c: dict[str, np.ndarray], i: int) -> dict[str, Any]:
        return {**self._common(c, i), "prediction": {"value": float(c["predicted"][i])}}

    def config(self) -> dict[str, Any]:
        return {
            "model": "regression",
            "event": {"id": "event_id", "time": "ts"},
            "segments": [{"name": "country", "path": "segment.country"}],
            "features": [{"name": "x0", "path": "features.x0", "type": "numeric"}],
            "prediction": {"path": "prediction.value", "type": "numeric"},
            "label": {"path": "label", "type": "numeric", "tolerance": 1.0},
        }


@dataclass
class ClassStream(_Stream):
    """Two features, three classes; the predicted class and its (calibrated) probability, or
    (``probabilities``) every class's."""

    probabilities: bool = False

    def columns(self, n: int, changes: Sequence[Shift] = ()) -> dict[str, np.ndarray]:
        rng, cols = self._base(n, 2)
        x = self._shifted(cols["x"], changes)
        logits = x @ _CENTRES.T
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        draw = rng.random(n)
        label = (draw[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        classes = np.array(["a", "b", "c"])
        cols["label"] = classes[np.minimum(label, 2)]
        cols["predicted"] = classes[p.argmax(axis=1)]
        cols["confidence"] = p.max(axis=1)
        cols["proba"] = p
        return cols

    def _event(self, c: dict[str, np.ndarray], i: int) -> dict[str, Any]:
        prediction: dict[str, Any] = {
            "class": str(c["predicted"][i]),
            "confidence": float(c["confidence"][i]),
        }
        if self.probabilities:
            prediction["proba"] = {k: float(v) for k, v in zip("abc", c["proba"][i], strict=True)}
        return {**self._common(c, i), "prediction": prediction}

    def config(self) -> dict[str, Any]:
        return {
            "model": "classes",
            "event": {"id": "event_id", "time": "ts"},
            "segments": [{"name": "country", "path": "segment.country"}],
            "features": [
                {"name": f"x{j}", "path": f"features.x{j}", "type": "numeric"} for j in range(2)
            ],
            "prediction": {
                "path": "prediction.class",
                "type": "categorical",
                **(
                    {"probabilities": {k: f"prediction.proba.{k}" for k in "abc"}}
                    if self.probabilities
                    else {"confidence": "prediction.confidence"}
                ),
            },
            "label": {"path": "label", "type": "categorical"},
        }
