"""The event times and error flags of a performance series' latest pairs, saved compactly.

ADWIN on the error stream keeps up to 16,384 pairs, and describing one of its detections needs
the error flags and event times of that many pairs back: as float64 times and int8 flags, 144 KiB
per series in every snapshot. Saved, the flags are bit-packed and the times become integer steps
(in seconds, milliseconds or microseconds, whichever is exact) in the smallest integer type that
holds them: about 34 KiB for a full ring of a stream with sub-minute gaps. Other times are saved
as they are, so a restore always gives back the same floats.

>>> ring = PairRing(4)
>>> ring.push(np.array([10.0, 10.5, 11.25]), np.array([True, False, True]))
>>> ring.push(np.array([12.0, 12.001]), np.array([False, True]))
>>> ring.count, ring.latest_errors(3).tolist(), ring.time_of(0)  # pair 0 fell out: pair 1
(5, [1, 0, 1], 10.5)
>>> state = ring.to_state()
>>> state["times"]["unit"], state["times"]["steps"].dtype.name
(1000, 'uint16')
>>> again = PairRing.from_state(state)
>>> again.latest_errors(4).tolist() == ring.latest_errors(4).tolist(), again.time_of(4)
(True, 12.001)
"""

from __future__ import annotations

from typing import Any

import numpy as np

_UNITS = (1, 1000, 1_000_000)  # ticks a second: times parsed from RFC 3339 or epoch ms are exact
_STEP_TYPES = (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32)


class PairRing:
    """The last ``size`` pairs' event times and error flags, by pair number modulo ``size``."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"ring size must be positive, not {size}")
        self.size = size
        self.count = 0  # pairs pushed so far
        self._times = np.zeros(size)
        self._errors = np.zeros(size, dtype=np.int8)

    def push(self, times: np.ndarray, errors: np.ndarray) -> None:
        """Append a batch's pairs (only the last ``size`` of them can stay)."""
        n = len(times)
        keep = min(n, self.size)
        slots = (self.count + n - keep + np.arange(keep)) % self.size
        self._times[slots] = times[n - keep :]
        self._errors[slots] = errors[n - keep :]
        self.count += n

    def _last(self, n: int) -> np.ndarray:
        return (self.count - n + np.arange(n)) % self.size

    def latest_errors(self, n: int) -> np.ndarray:
        """Error flags (int8) of the newest ``n`` pairs kept, oldest first."""
        flags: np.ndarray = self._errors[self._last(min(n, self.size, self.count))]
        return flags

    def time_of(self, index: int) -> float:
        """Event time of pair ``index``, or of the oldest pair kept when it fell out."""
        index = max(index, self.count - self.size, 0)
        return float(self._times[index % self.size])

    def to_state(self) -> dict[str, Any]:
        kept = self._last(min(self.size, self.count))
        flags = self._errors[kept]
        return {
            "size": self.size,
            "count": self.count,
            "times": _pack_times(self._times[kept]),
            "errors": np.packbits(flags.astype(bool)),  # flags are 0 or 1
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PairRing:
        ring = cls(int(state["size"]))
        count = int(state["count"])
        kept = min(ring.size, count)
        if count < 0:
            raise ValueError("a pair ring cannot have a negative count")
        times = _unpack_times(state["times"], kept)
        bits = np.asarray(state["errors"])
        if bits.dtype != np.uint8 or len(bits) != (kept + 7) // 8:
            raise ValueError("saved error flags do not match the ring's pairs")
        ring.count = count
        slots = ring._last(kept)
        ring._times[slots] = times
        ring._errors[slots] = np.unpackbits(bits, count=kept).astype(np.int8)
        return ring


def _pack_times(times: np.ndarray) -> dict[str, Any]:
    """Integer steps in the coarsest exact unit, else the floats themselves."""
    if len(times) and np.isfinite(times).all() and np.abs(times).max() < 2**52 / _UNITS[-1]:
        for unit in _UNITS:
            ticks = np.round(times * unit).astype(np.int64)
            if not np.array_equal(ticks / float(unit), times):
                continue
            steps = np.diff(ticks)
            for kind in _STEP_TYPES:
                info = np.iinfo(kind)
                if len(steps) == 0 or (steps.min() >= info.min and steps.max() <= info.max):
                    return {"unit": unit, "first": int(ticks[0]), "steps": steps.astype(kind)}
    return {"unit": 0, "first": 0, "steps": np.asarray(times, dtype=np.float64)}


def _unpack_times(packed: dict[str, Any], kept: int) -> np.ndarray:
    unit, steps = int(packed["unit"]), np.asarray(packed["steps"])
    if unit == 0:
        if steps.dtype != np.float64 or len(steps) != kept:
            raise ValueError("saved event times do not match the ring's pairs")
        return steps
    if unit not in _UNITS or len(steps) != max(kept - 1, 0) or steps.dtype.kind not in "iu":
        raise ValueError("saved event time steps do not match the ring's pairs")
    if kept == 0:
        return np.zeros(0)
    ticks = int(packed["first"]) + np.concatenate([[0], np.cumsum(steps, dtype=np.int64)])
    return ticks / float(unit)
