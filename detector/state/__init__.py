"""Detector state as bytes, for a compacted changelog topic: save in one worker, restore in another.

:func:`encode_state` / :func:`decode_state` (:mod:`detector.state.codec`) write and read a
versioned binary format (:mod:`detector.state.format`) that can only build plain values, numeric
numpy arrays and instances of an explicit allow-list of classes (:mod:`detector.state.registry`).
Objects a worker rebuilds from its config and baseline (contexts, configs, baseline references)
are *shared* (:func:`detector.state.shared.shared_objects`): saved as a name, and supplied again
by the restoring worker. A payload that is malformed, hostile or of another ``STATE_VERSION``
raises :class:`~detector.errors.StateError`; the caller then discards it and rebuilds the state
from the stream.
"""

from detector.errors import StateError
from detector.state.codec import Shared, decode_state, encode_state
from detector.state.format import STATE_VERSION

__all__ = ["STATE_VERSION", "Shared", "StateError", "decode_state", "encode_state"]
