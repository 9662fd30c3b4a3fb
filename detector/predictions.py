"""Predictions as the engine carries them, and label batches: core types the labels package uses.

Each inference event may hold a model's prediction. The engine derives fields from it
(:func:`with_derived_fields`: ``predicted_class`` from a score and a threshold), which the
baseline builder derives the same way, and puts each event's *prediction half* on the
performance tape (:func:`prediction_halves`), where the label join meets it. Label records
arrive decoded (:mod:`detector.labels.decode`) as a :class:`LabelBatch`.

Binary labels and binary predictions accept ``true``/``false``, ``0``/``1`` (numbers or text)
and become the classes ``"1"`` and ``"0"``.

>>> binary_class(True), binary_class(0), binary_class("1.0"), binary_class("yes")
('1', '0', '1', None)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from detector.columns import Categories
from detector.config import CONFIDENCE, PROBABILITY, Config
from detector.events import EventBatch

Value = str | float  # a class (text) or a regression target
_BINARY = {"1": "1", "0": "0", "true": "1", "false": "0", "1.0": "1", "0.0": "0"}


@dataclass
class LabelBatch:
    """Accepted label records of one micro-batch, in input order."""

    positions: list[int]
    times: np.ndarray
    ids: list[str]
    values: list[Value]

    @property
    def size(self) -> int:
        return len(self.positions)


def binary_class(value: Any) -> str | None:
    """``"1"`` or ``"0"`` for a binary value, else ``None``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return "1" if value == 1 else "0" if value == 0 else None
    if isinstance(value, str):
        return _BINARY.get(value.strip().lower())
    return None


def predicted_classes(scores: np.ndarray, threshold: float) -> list[str | None]:
    """``"1"`` where ``score >= threshold``, ``"0"`` below, ``None`` where the score is missing.

    >>> predicted_classes(np.array([0.2, 0.5, np.nan]), 0.5)
    ['0', '1', None]
    """
    return [None if math.isnan(s) else ("1" if s >= threshold else "0") for s in scores.tolist()]


def with_derived_fields(batch: EventBatch, config: Config) -> EventBatch:
    """The batch plus the fields the config derives (``predicted_class`` from the score).

    The engine and the baseline builder both call this, so live series and their baseline
    references see the same derived values.
    """
    prediction = config.prediction
    if prediction is None or prediction.threshold is None or batch.size == 0:
        return batch
    scores = batch.numeric["prediction"]
    # "0" below the threshold, "1" at or above it, missing without a score (predicted_classes)
    codes = np.where(np.isnan(scores), -1, scores >= prediction.threshold).astype(np.int32)
    classes = Categories(codes, ["0", "1"])
    return replace(
        batch,
        categorical={**batch.categorical, "predicted_class": classes},
        type_errors={**batch.type_errors, "predicted_class": np.zeros(batch.size, bool)},
    )


def prediction_halves(batch: EventBatch, config: Config) -> tuple[list[Value | None], np.ndarray]:
    """Each event's prediction as the join compares it with a label, and its score.

    The value is ``None`` where the event has no usable prediction; the score is NaN where there
    is none (numeric predictions of binary labels have one: the positive class's probability;
    categorical ones with ``prediction.confidence`` or ``prediction.probabilities``: the
    predicted class's probability, NaN when a class's probability is missing or the predicted
    class is not one of them).
    """
    spec, label = config.prediction, config.label
    assert spec is not None and label is not None
    nan = np.full(batch.size, np.nan)
    if spec.type == "numeric":
        column = batch.numeric["prediction"]
        if label.type == "binary":
            threshold = 0.5 if spec.threshold is None else spec.threshold
            return list(predicted_classes(column, threshold)), column
        return [None if math.isnan(v) else v for v in column.tolist()], nan
    texts = batch.categorical["prediction"].values()
    if label.type == "binary":
        return [None if t is None else binary_class(t) for t in texts], nan
    if spec.probabilities is not None:
        probabilities = prediction_probabilities(batch, config)
        assert probabilities is not None
        return list(texts), predicted_probability(probabilities, spec.classes(), texts)
    confidence = batch.numeric.get(CONFIDENCE) if spec.confidence is not None else None
    return list(texts), nan if confidence is None else confidence


def prediction_probabilities(batch: EventBatch, config: Config) -> np.ndarray | None:
    """Each event's class probabilities (``prediction.probabilities``, n x classes in config
    order, NaN where missing), or None when the config has none."""
    spec = config.prediction
    if spec is None or spec.probabilities is None:
        return None
    k = len(spec.probabilities)
    columns = [batch.numeric.get(f"{PROBABILITY}{i}") for i in range(k)]
    out = np.full((batch.size, k), np.nan)
    for i, column in enumerate(columns):
        if column is not None:
            out[:, i] = column
    return out


def class_index(classes: tuple[str, ...], predicted: list[Any]) -> np.ndarray:
    """Each predicted class's position in ``classes`` (-1: none of them, or no prediction).

    >>> class_index(("a", "b"), ["b", "z", None]).tolist()
    [1, -1, -1]
    """
    where = {c: i for i, c in enumerate(classes)}
    return np.fromiter((where.get(p, -1) for p in predicted), np.int64, len(predicted))


def predicted_probability(
    probabilities: np.ndarray, classes: tuple[str, ...], predicted: list[Any]
) -> np.ndarray:
    """The predicted class's probability per event: NaN when the predicted class is none of
    ``classes`` or any class's probability is missing (the estimate needs them all)."""
    index = class_index(classes, predicted)
    rows = np.arange(len(index))
    picked = probabilities[rows, np.maximum(index, 0)] if len(index) else np.zeros(0)
    usable = (index >= 0) & np.isfinite(probabilities).all(axis=1)
    return np.where(usable, picked, np.nan)
