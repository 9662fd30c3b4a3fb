"""Per-series state: one model feature in one segment (or in all traffic).

A series' reference comes from the training baseline or, without one, from its first
``detection.warmup`` values. From then on, every event is checked two ways:

- **change points** (numeric): values become normal scores against the reference and feed ADWIN
  and Page-Hinkley, which react within tens of events to a sustained shift;
- **windows**: each tumbling window (:mod:`detector.windows`) is tested against the reference:
  distribution tests (:mod:`detector.detectors.distribution`) and quality checks
  (:mod:`detector.quality`), at a per-test level derived from the model's false-alarm budget.

Each alert (drift, or one per quality check) fires once, folds later detections, and resolves
after ``detection.resolve_windows`` consecutive windows that pass at the looser resolve level.
"""

from detector.series.base import RESOLVE_ALPHA, SeriesContext
from detector.series.categorical import CategoricalSeries
from detector.series.numeric import NumericSeries

__all__ = ["RESOLVE_ALPHA", "CategoricalSeries", "NumericSeries", "SeriesContext"]
