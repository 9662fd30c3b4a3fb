"""What estimating performance without labels needs: a calibration learned from labelled rows.

The baseline's labelled training rows (``drift-detector baseline`` with a ``label`` section)
teach a map from what each event carries to what its label will probably say:

- **binary** (CBPE): an isotonic map from the score to ``P(label = 1)``, fitted by
  pool-adjacent-violators (:func:`isotonic`), kept as a small monotone piecewise-linear table;
- **categorical** (CBPE, top label): an isotonic map from the confidence of the predicted
  class (``prediction.confidence``) to ``P(prediction correct)``; with every class's
  probability (``prediction.probabilities``) also one-vs-rest isotonic maps per class,
  ``p_c -> P(label = c)``, whose outputs are normalised to sum to 1 per event (as NannyML's
  CBPE does): :meth:`Calibration.calibrated`;
- **numeric** (DLE, a direct loss estimator): the mean absolute error of the training rows by
  quantile bin of the prediction, as a piecewise-linear table through the bins' medians (flat
  beyond the first and last), so predictions that move where the model erred more raise it.

Each event then has an *expected correctness* (classification) or *expected loss* (regression).
Their mean and variance over the training rows, for all traffic and per segment value
(:class:`Reference`), are what a window's estimate is tested against (:mod:`.estimate`).

>>> xs, ys = isotonic(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 1.0, 0.0, 1.0]))
>>> xs.tolist(), ys.tolist()
([0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.5, 1.0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

import numpy as np

from detector.config import LabelType
from detector.predictions import class_index

Method = Literal["cbpe", "dle"]
Key = tuple[str | None, str | None]  # segment dimension, value; (None, None): all traffic
LOSS_BINS = 20  # prediction bins of the regression loss table, at most
MIN_PER_BIN = 100  # training rows per loss bin, at least
MIN_SEGMENT_ROWS = 500  # a segment value's reference needs this many training rows


class Reference(NamedTuple):
    """Training rows' per-event expected correctness (or loss): count, mean and variance."""

    rows: int
    mean: float
    var: float


def isotonic(
    x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The non-decreasing least-squares fit of ``y`` on ``x`` (weights ``w``), by
    pool-adjacent-violators, as knots ``(xs, ys)`` for :func:`numpy.interp`: each pooled block
    gives its lowest and highest ``x`` (once when equal) at the block's weighted mean."""
    order = np.argsort(x, kind="stable")
    xo, yo = x[order].astype(np.float64), y[order].astype(np.float64)
    wo = np.ones(len(xo)) if w is None else w[order].astype(np.float64)
    # equal x values are one point: their weighted mean (so ties never split a block)
    ux, start = np.unique(xo, return_index=True)
    wsum = np.add.reduceat(wo, start) if len(xo) else np.zeros(0)
    ysum = np.add.reduceat(wo * yo, start) if len(xo) else np.zeros(0)
    values: list[float] = []  # block means
    weights: list[float] = []
    lows: list[int] = []  # first unique x of each block
    for i in range(len(ux)):
        value, weight, low = float(ysum[i] / wsum[i]), float(wsum[i]), i
        while values and values[-1] >= value:  # pool while the order is violated
            prev_w = weights.pop()
            value = (values.pop() * prev_w + value * weight) / (prev_w + weight)
            weight += prev_w
            low = lows.pop()
        values.append(value)
        weights.append(weight)
        lows.append(low)
    xs: list[float] = []
    ys: list[float] = []
    highs = [*lows[1:], len(ux)]
    for value, low, high in zip(values, lows, highs, strict=True):
        xs.append(float(ux[low]))
        ys.append(value)
        if high - 1 > low:
            xs.append(float(ux[high - 1]))
            ys.append(value)
    return np.asarray(xs), np.asarray(ys)


def loss_table(predicted: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``loss`` by quantile bin of ``predicted``, as knots at the bins' medians."""
    bins = max(1, min(LOSS_BINS, len(predicted) // MIN_PER_BIN))
    edges = np.unique(np.quantile(predicted, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    which = np.searchsorted(edges, predicted, side="right")
    xs, ys = [], []
    for b in range(len(edges) + 1):
        members = which == b
        if members.any():
            xs.append(float(np.median(predicted[members])))
            ys.append(float(loss[members].mean()))
    return np.asarray(xs), np.asarray(ys)


@dataclass(frozen=True)
class Calibration:
    """A fitted map (knots ``xs`` -> ``ys``) and the training rows' references by segment."""

    label_type: LabelType
    xs: np.ndarray
    ys: np.ndarray
    references: Mapping[Key, Reference] = field(default_factory=dict)
    source: Literal["baseline", "identity"] = "baseline"
    classes: tuple[str, ...] = ()  # multi-class: the classes of the per-class maps
    class_maps: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # one (xs, ys) per class

    @property
    def method(self) -> Method:
        return "dle" if self.label_type == "numeric" else "cbpe"

    @classmethod
    def identity(cls, label_type: LabelType) -> Calibration:
        """Scores taken as calibrated probabilities as they are; references from warm-up."""
        return cls(label_type, np.array([0.0, 1.0]), np.array([0.0, 1.0]), {}, "identity")

    def with_classes(self, classes: tuple[str, ...]) -> Calibration:
        """This calibration for the config's ``classes``, in their order: identity maps when it
        has none (identity calibration), else its own maps reordered; ValueError when its
        classes are not those, or it has per-class maps and the config none."""
        if not classes:
            if self.classes:
                raise ValueError(
                    f"it has per-class maps for {list(self.classes)}: set "
                    "prediction.probabilities (or rebuild the baseline without it)"
                )
            return self
        if self.source == "identity":
            unit = (np.array([0.0, 1.0]), np.array([0.0, 1.0]))
            return replace(self, classes=classes, class_maps=tuple(unit for _ in classes))
        if not self.classes:
            return self  # an older baseline: top-label accuracy only
        if set(self.classes) != set(classes):
            raise ValueError(
                f"its per-class maps are for {sorted(self.classes)}, prediction.probabilities "
                f"names {sorted(classes)}"
            )
        maps = dict(zip(self.classes, self.class_maps, strict=True))
        return replace(self, classes=classes, class_maps=tuple(maps[c] for c in classes))

    def calibrated(self, probabilities: np.ndarray) -> np.ndarray:
        """Each event's class probabilities through the per-class maps, normalised to sum to 1
        (uniform where every map gives 0); rows x classes, as given."""
        out = np.empty(probabilities.shape, np.float64)
        for c, (xs, ys) in enumerate(self.class_maps):
            out[:, c] = np.interp(probabilities[:, c], xs, ys)
        total = out.sum(axis=1, keepdims=True)
        k = max(len(self.class_maps), 1)
        return np.where(total > 0, out / np.where(total > 0, total, 1.0), 1.0 / k)

    def mapped(self, scores: np.ndarray) -> np.ndarray:
        """The table at ``scores``: P(label 1), P(correct) or the expected absolute error."""
        return np.asarray(np.interp(scores, self.xs, self.ys), np.float64)

    def expected(
        self,
        predicted: Sequence[Any],
        scores: np.ndarray,
        calibrated: np.ndarray | None = None,
        index: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per event: the probability its prediction is right (classification) or its expected
        absolute error (regression, ``scores`` then holds the predictions). Multi-class with
        per-class maps: the predicted class's (at ``index``) ``calibrated`` probability."""
        if calibrated is not None and index is not None:
            picked: np.ndarray = calibrated[np.arange(len(index)), index]
            return picked
        mapped = self.mapped(scores)
        if self.label_type != "binary":
            return mapped
        positive = np.fromiter((p == "1" for p in predicted), bool, len(predicted))
        return np.where(positive, mapped, 1.0 - mapped)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "xs": self.xs.tolist(),
            "ys": self.ys.tolist(),
            "references": [
                {"dimension": d, "value": v, "count": r.rows, "mean": r.mean, "var": r.var}
                for (d, v), r in self.references.items()
            ],
        }
        if self.classes:
            out["classes"] = [
                {"class": c, "xs": xs.tolist(), "ys": ys.tolist()}
                for c, (xs, ys) in zip(self.classes, self.class_maps, strict=True)
            ]
        return out

    @classmethod
    def from_json(cls, label_type: LabelType, data: Mapping[str, Any]) -> Calibration:
        """The calibration of a baseline's ``labels.calibration`` entry; ValueError if bad."""
        xs, ys = _table(data, "its table")
        method: Method = "dle" if label_type == "numeric" else "cbpe"
        if data.get("method") != method:
            raise ValueError(f"its method is {data.get('method')!r}, {label_type} needs {method}")
        classes, maps = _class_maps(label_type, data.get("classes"))
        references: dict[Key, Reference] = {}
        for entry in data.get("references", []):
            ref = Reference(int(entry["count"]), float(entry["mean"]), float(entry["var"]))
            if ref.rows < 1 or ref.var < 0:
                raise ValueError("a reference needs a positive count and a variance >= 0")
            references[(entry["dimension"], entry["value"])] = ref
        return cls(label_type, xs, ys, references, classes=classes, class_maps=maps)


def _table(data: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """A piecewise-linear table's knots from JSON: ValueError unless non-decreasing finite xs
    and as many finite ys."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{what} must be an object with xs and ys")
    xs = np.asarray(data.get("xs", []), np.float64)
    ys = np.asarray(data.get("ys", []), np.float64)
    if xs.ndim != 1 or xs.shape != ys.shape or len(xs) == 0 or np.any(np.diff(xs) < 0):
        raise ValueError(f"{what} needs increasing xs and as many ys")
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise ValueError(f"{what} holds values that are not finite")
    return xs, ys


def _class_maps(
    label_type: LabelType, data: Any
) -> tuple[tuple[str, ...], tuple[tuple[np.ndarray, np.ndarray], ...]]:
    """The per-class maps of a calibration's ``classes`` entry (none without one)."""
    if data is None:
        return (), ()
    if label_type != "categorical":
        raise ValueError("per-class maps need categorical labels")
    if not isinstance(data, list) or len(data) < 2:
        raise ValueError("classes must be a list of at least 2 per-class maps")
    classes: list[str] = []
    maps: list[tuple[np.ndarray, np.ndarray]] = []
    for entry in data:
        name = entry.get("class") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or name in classes:
            raise ValueError("each per-class map needs its own class (a string)")
        xs, ys = _table(entry, f"the map of class {name!r}")
        if np.any(ys < 0) or np.any(ys > 1) or np.any(np.diff(ys) < 0):
            raise ValueError(f"the map of class {name!r} must be non-decreasing within [0, 1]")
        classes.append(name)
        maps.append((xs, ys))
    return tuple(classes), tuple(maps)


def fit_calibration(
    label_type: LabelType,
    predicted: Sequence[Any],
    actual: Sequence[Any],
    scores: np.ndarray,
    segments: Mapping[str, Sequence[str | None]],
    probabilities: np.ndarray | None = None,
    classes: tuple[str, ...] = (),
) -> Calibration | None:
    """The calibration of labelled training rows (``scores``: the positive class's score, the
    predicted class's confidence, or the regression prediction; NaN where absent), or None
    without rows that have one. Multi-class with ``probabilities`` (rows x ``classes``; a
    row's score is then NaN unless they are all there): per-class maps too."""
    usable = ~np.isnan(scores)
    if not usable.any():
        return None
    if label_type == "numeric":
        guess = np.asarray(predicted, np.float64)
        loss = np.abs(guess - np.asarray(actual, np.float64))
        xs, ys = loss_table(guess[usable], loss[usable])
    else:
        outcome = [
            a == "1" if label_type == "binary" else a == p
            for p, a in zip(predicted, actual, strict=True)
        ]
        hits = np.asarray(outcome, np.float64)
        xs, ys = isotonic(scores[usable], hits[usable])
    maps: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    calibrated = index = None
    if probabilities is not None and classes:
        rows = probabilities[usable]
        truth = np.asarray(actual, dtype=object)[usable]
        maps = tuple(
            isotonic(rows[:, c], (truth == k).astype(np.float64)) for c, k in enumerate(classes)
        )
        fitted = Calibration(label_type, xs, ys, classes=classes, class_maps=maps)
        calibrated = fitted.calibrated(np.where(np.isfinite(probabilities), probabilities, 0.0))
        index = np.maximum(class_index(classes, list(predicted)), 0)
    else:
        fitted = Calibration(label_type, xs, ys)
    expected = fitted.expected(list(predicted), np.where(usable, scores, 0.0), calibrated, index)
    references: dict[Key, Reference] = {(None, None): _reference(expected[usable])}
    for dimension, values in segments.items():
        column = np.asarray([v if v is not None else "" for v in values], dtype=object)
        for value in sorted({v for v in values if v is not None}):
            members = usable & (column == value)
            if members.sum() >= MIN_SEGMENT_ROWS:
                references[(dimension, value)] = _reference(expected[members])
    return replace(fitted, references=references)


def _reference(values: np.ndarray) -> Reference:
    return Reference(len(values), float(values.mean()), float(values.var()))


@dataclass(frozen=True)
class EstimateContext:
    """What every estimate series of a model shares: the calibration and the settings."""

    calibration: Calibration
    window: int
    window_seconds: float | None
    alpha: float
    resolve_windows: int
    critical_ratio: float
    warmup_windows: int
    min_accuracy_drop: float
    min_mae_increase: float
