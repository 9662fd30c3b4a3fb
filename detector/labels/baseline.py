"""What a baseline records about labels: their distribution, and the model's training metrics.

When the config has a ``label`` section and the training rows carry the label at ``label.path``
(next to the features and the prediction), ``drift-detector baseline`` adds a ``labels`` entry
to the baseline file: how many rows had a label, the label's class shares (or mean and standard
deviation for regression), the metrics of the training predictions against them, and, where
the predictions carry what it needs, the ``calibration`` that estimated performance uses before
labels arrive (:mod:`detector.labels.calibration`); loading a baseline hands that to the
performance monitor.

>>> from detector.config import parse_config
>>> from detector.testing.labelled import LabelledStream
>>> summary = LabelSummary(parse_config(LabelledStream().config()))
>>> summary.add([b'{"ts": 1, "prediction": {"score": 0.9}, "label": 1}', b'{"ts": 2, "label": 0}'])
>>> out = summary.build()
>>> out["count"], out["shares"], out["metrics"]["accuracy"]
(2, {'0': 0.5, '1': 0.5}, 1.0)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import orjson

from detector.config import Config
from detector.events import Decoder, compile_path, extract
from detector.labels.calibration import fit_calibration
from detector.labels.decode import label_value
from detector.labels.metrics import MetricAccumulator
from detector.predictions import Value, prediction_halves, prediction_probabilities


class LabelSummary:
    """Accumulates training rows (JSON records) into the baseline's ``labels`` entry."""

    def __init__(self, config: Config) -> None:
        if config.label is None:
            raise ValueError("the config has no label section")
        self.config = config
        self.spec = config.label
        self.decoder = Decoder(config)
        self._path = compile_path(self.spec.path)
        self.rows = 0
        self.missing = 0
        self.classes: Counter[str] = Counter()
        self.values: list[float] = []
        assert config.prediction is not None
        self.probability_classes = config.prediction.classes()
        self.metrics = MetricAccumulator(
            self.spec.type, self.spec.tolerance or 0.0, self.probability_classes
        )
        self.dimensions = [s.name for s in config.segments]
        self._predicted: list[Value] = []  # labelled rows with a prediction, for calibration
        self._actual: list[Value] = []
        self._scores: list[float] = []
        self._probabilities: list[np.ndarray] = []  # with prediction.probabilities: rows x k
        self._segments: list[list[str | None]] = [[] for _ in self.dimensions]

    def add(self, records: list[bytes]) -> None:
        """Add training rows; rows the event decoder rejects are skipped."""
        result = self.decoder.decode(records, [0.0] * len(records))
        predicted, scores = prediction_halves(result.batch, self.config)
        probabilities = prediction_probabilities(result.batch, self.config)
        kept: list[int] = []  # rows of the labelled pairs
        pairs_p: list[Value] = []
        pairs_a: list[Value] = []
        pair_scores: list[float] = []
        numeric = self.spec.type == "numeric"
        texts = [result.batch.segments[d].values() for d in self.dimensions]
        for row, position in enumerate(result.batch.positions):
            self.rows += 1
            label = label_value(self.spec, extract(orjson.loads(records[position]), self._path))
            if label is None:
                self.missing += 1
                continue
            if isinstance(label, str):
                self.classes[label] += 1
            else:
                self.values.append(label)
            guess = predicted[row]
            if guess is not None:
                pairs_p.append(guess)
                pairs_a.append(label)
                pair_scores.append(float(scores[row]))
                kept.append(row)
                self._scores.append(float(guess) if numeric else float(scores[row]))
                for column, values in zip(self._segments, texts, strict=True):
                    column.append(values[row])
        self._predicted += pairs_p
        self._actual += pairs_a
        picked = None if probabilities is None else probabilities[np.asarray(kept, np.int64)]
        if picked is not None:
            self._probabilities.append(picked)
        self.metrics.add(pairs_p, pairs_a, np.asarray(pair_scores, dtype=np.float64), picked)

    def build(self) -> dict[str, Any]:
        """The ``labels`` entry of the baseline file."""
        count = self.rows - self.missing
        out: dict[str, Any] = {"type": self.spec.type, "count": count, "missing": self.missing}
        if self.classes:
            out["shares"] = {c: n / count for c, n in sorted(self.classes.items())}
        if self.values:
            out["mean"] = float(np.mean(self.values))
            out["std"] = float(np.std(self.values))
        out["metrics"] = self.metrics.metrics()
        calibration = fit_calibration(
            self.spec.type,
            self._predicted,
            self._actual,
            np.asarray(self._scores, np.float64),
            dict(zip(self.dimensions, self._segments, strict=True)),
            np.concatenate(self._probabilities) if self._probabilities else None,
            self.probability_classes,
        )
        if calibration is not None:
            out["calibration"] = calibration.to_json()
        return out
