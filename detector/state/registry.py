"""The allow-list of classes whose instances saved state may contain, in one auditable place.

A saved object names its class; the decoder only ever maps that name to a class listed here
(already imported), never imports a module or calls a constructor. Adding a class, or changing
the fields of one, changes what saved state means: bump ``STATE_VERSION`` in
:mod:`detector.state.codec` and the pin in ``tests/state/test_versioning.py``.

Objects rebuilt from the config and the baseline (``SeriesContext``, the configs,
``PerformanceContext``, baseline references) are deliberately absent: callers pass them as
*shared* objects (see :func:`detector.state.codec.encode_state`).
"""

from __future__ import annotations

from detector._native import CategoricalCore, NumericCore
from detector.alerts import Lifecycle
from detector.chunks import StreamChunk
from detector.columns import Categories
from detector.detectors.adwin import Adwin
from detector.detectors.plugins import PluginSet
from detector.joint import JointUnit
from detector.labels.estimate import EstimateSeries, EstimateSums
from detector.labels.join import JoinStats, JoinStore
from detector.labels.metrics import MetricAccumulator
from detector.labels.monitor import PerformanceMonitor
from detector.labels.ring import PairRing
from detector.labels.series import Columns, PerformanceSeries
from detector.multivariate import CorrelationReference, JointReference
from detector.order import Keys
from detector.reference import CategoricalReference, NumericReference
from detector.segments import SegmentRouter
from detector.series.categorical import CategoricalSeries
from detector.series.numeric import NumericSeries
from detector.slices import PerformanceTape
from detector.stream_checks import SchemaCheck, SilenceCheck, StreamUnit, VolumeCheck
from detector.windows import WindowClock

PERSISTED: tuple[type, ...] = (
    # data series and what they hold
    NumericSeries,
    PluginSet,  # to_state / from_state: the configured detectors' data, rebound to the config
    NumericCore,  # to_state / from_state: the Rust core's windows, detectors and lifecycles
    CategoricalSeries,
    CategoricalCore,  # to_state / from_state, likewise
    NumericReference,  # learned in warm-up; a baseline's is shared instead
    CategoricalReference,
    # joint (multivariate) units
    JointUnit,
    JointReference,  # learned in warm-up; a baseline's is shared instead
    CorrelationReference,
    # performance series (labels) and their detectors
    WindowClock,
    Lifecycle,
    Adwin,  # to_state / from_state: the histogram of our native core
    # engine-level checks and routing
    SegmentRouter,
    VolumeCheck,
    SchemaCheck,
    SilenceCheck,
    StreamUnit,
    # model performance
    PerformanceMonitor,
    JoinStore,
    JoinStats,
    PerformanceSeries,
    Columns,  # to_state / from_state: class labels live in object arrays
    PairRing,  # to_state / from_state: packed flags, integer time steps
    MetricAccumulator,
    EstimateSeries,  # estimated performance; its calibration comes with the shared context
    EstimateSums,
    # repartition records (stage one to stage two): slices travel as flat arrays
    # (detector.state.slice_format), their performance tape through this codec
    StreamChunk,
    Categories,  # a stream chunk's segment columns
    PerformanceTape,
    Keys,
)


def class_name(cls: type) -> str:
    """The name a saved object carries: module and qualified name."""
    return f"{cls.__module__}.{cls.__qualname__}"


BY_NAME: dict[str, type] = {class_name(cls): cls for cls in PERSISTED}
HOOKED: frozenset[type] = frozenset(
    cls
    for cls in PERSISTED
    if callable(getattr(cls, "to_state", None)) and callable(getattr(cls, "from_state", None))
)
