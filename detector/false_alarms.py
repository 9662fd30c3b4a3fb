"""The false-alarm budget: the significance level of each test a model's units run.

Every closed window runs up to ``TESTS_PER_WINDOW`` tests. With ``F`` monitored fields, ``D``
segment dimensions and windows of ``W`` events, a model runs about
``1e7 * F * (1 + D) / W * TESTS_PER_WINDOW`` tests per 10 million events; each test's level is
the budget (``detection.false_alarms_per_10m_events``) divided by that number (a union bound, so
the real rate is lower). With labels, each segment's performance window adds one more test (the
segment against the rest of the traffic), and with ``detection.joint`` each window of the
all-traffic and segment joint units one more (the correlations, :mod:`detector.joint`). With
estimated performance (``estimating``), each window of predictions of all traffic and of each
segment value adds one more (the estimate against its reference, :mod:`detector.labels.estimate`).
"""

from __future__ import annotations

from detector.config import Config

TESTS_PER_WINDOW = 8  # 4 distribution tests + up to 4 quality checks
_ALPHA_RANGE = (1e-12, 1e-3)


def test_level(config: Config, estimating: bool = False) -> float:
    """The per-test significance level that keeps the model within its false-alarm budget.

    >>> from detector.config import parse_config
    >>> cfg = parse_config({"model": "m", "topics": {"events": "e", "alerts": "a",
    ...     "dead_letter": "d"}, "features": [{"name": "x", "path": "x", "type": "numeric"}]})
    >>> f"{test_level(cfg):.2e}"
    '6.25e-06'
    """
    detection = config.detection
    fields = len(config.monitored_fields()) + len(config.derived_fields())
    series_updates = fields * (1 + len(config.segments))
    tests = 1e7 * series_updates / detection.window * TESTS_PER_WINDOW
    if config.joint_fields():  # one correlation test per joint window (all traffic, segments)
        tests += 1e7 * (1 + len(config.segments)) / detection.window
    if config.label is not None:  # one segment-versus-rest test per segment window
        tests += 1e7 * len(config.segments) / config.performance.window
        if estimating:  # one estimate test per window of predictions, all traffic and segments
            tests += 1e7 * (1 + len(config.segments)) / config.performance.window
    low, high = _ALPHA_RANGE
    return min(max(detection.false_alarms_per_10m_events / tests, low), high)
