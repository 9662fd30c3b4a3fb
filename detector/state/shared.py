"""The objects a worker rebuilds from its config and baseline instead of saving them.

Series point at their feature's :class:`~detector.series.SeriesContext` (and through it the
config), performance series at the :class:`~detector.labels.series.PerformanceContext`, and
series with a training baseline at its reference. Saving those would copy them into every series'
state and pin stale settings, so they are written as names and the restoring worker supplies its
own objects under the same names. The names depend only on the config and the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from detector.baseline import Baseline
from detector.config import Config
from detector.joint import JointContext
from detector.labels.series import PerformanceContext
from detector.series import SeriesContext
from detector.state.codec import Shared


def shared_objects(
    config: Config,
    contexts: Mapping[str, SeriesContext],
    baseline: Baseline | None = None,
    performance: PerformanceContext | None = None,
    joint: JointContext | None = None,
) -> Shared:
    """Shared objects by name: the config and its detection section, each field's series
    context (``contexts`` by field name), the performance and joint contexts and the baseline
    references (per series, and the joint ones per segment).

    Build it once per snapshot round and pass it as is: a :class:`Shared` keeps its reverse
    index, a plain dict is indexed again on every call.
    """
    objects: dict[str, object] = {"config": config, "detection": config.detection}
    for field, context in contexts.items():
        objects[f"context:{field}"] = context
    if performance is not None:
        objects["performance"] = performance
    if joint is not None:
        objects["joint"] = joint
    if baseline is not None:  # JSON names: unambiguous whatever the segment values contain
        for key, reference in baseline.references.items():
            objects["baseline:" + orjson.dumps(list(key)).decode()] = reference
        for segment, joint_reference in baseline.joint.items():
            objects["baseline-joint:" + orjson.dumps(list(segment)).decode()] = joint_reference
    return Shared(objects)
