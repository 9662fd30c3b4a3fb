"""The exceptions kafka-drift-detector raises, as one tree.

Everything the package raises on purpose derives from :class:`DetectorError`, so a caller can catch
one class. Foreign errors (pydantic, YAML, librdkafka) are mapped at the boundary with
``raise ... from exc`` so the original stays visible in the traceback.

    DetectorError
    ├── ConfigError        the YAML file is missing, unparsable or invalid; names the field
    ├── KafkaBoundaryError the broker refused or failed an operation we cannot recover from
    │   └── DeliveryError  a produced record (alert, dead letter) was not acknowledged
    └── StateError         saved detector state cannot be written or read back (see
                           :mod:`detector.state`); the caller discards it and rebuilds

Bad *events* are not exceptions: they are data, routed to the dead-letter topic with a reason
(see :mod:`detector.events`).
"""

from __future__ import annotations


class DetectorError(Exception):
    """Base class of every error kafka-drift-detector raises on purpose."""


class ConfigError(DetectorError):
    """The configuration cannot be used; the message names the offending field."""


class KafkaBoundaryError(DetectorError):
    """A Kafka operation failed in a way the worker cannot recover from by itself."""


class DeliveryError(KafkaBoundaryError):
    """A record was not acknowledged by the broker, so offsets must not be stored."""


class StateError(DetectorError):
    """Detector state cannot be saved, or a saved state is malformed, hostile or outdated."""
