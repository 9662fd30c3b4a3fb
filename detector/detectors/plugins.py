"""Configured drift detectors that run in Python next to the built-in ADWIN and Page-Hinkley.

Any river drift detector (``river.drift.KSWIN``, a ``PageHinkley`` with other settings, the
binary ones in ``river.drift.binary``), or any object with river's ``DriftDetector`` contract
(``update(x)``, then ``drift_detected``), can watch numeric series. Each series runs its own
copy of the detector, fed what ADWIN and Page-Hinkley are fed: the values' normal scores
against the series' reference (seasonally adjusted where the reference has a cycle), or the
values themselves (``input: value``, e.g. a 0/1 error flag for the binary detectors).

A detection joins the series' drift alert exactly as ADWIN's does: the core describes the
change from the values since the CUSUM estimate of its start, drops it when the mean score has
not moved beyond two standard errors (the materiality filter), and folds it into the one drift
lifecycle (one page per drift, the same dedup key). The positions are found here before the
core's update and handed to it (``NumericCore.set_hits``), so the detection takes its place in
the stream order and alerts are the same however the stream was cut into batches.

State, without pickle: a detector's data attributes (numbers, strings, containers of them,
numeric arrays, ``random.Random`` states and nested plain objects) are saved; restoring builds
a fresh copy from the config (or the object given to the API) and writes the saved data into
it, checking that nested objects are of the class the fresh copy holds. Saved state never
names a class to build or code to run.

>>> from river.drift import KSWIN
>>> plugin = Plugin(KSWIN(alpha=1e-5, window_size=100, stat_size=30, seed=1), "river.KSWIN")
>>> detectors = PluginSet((plugin,))
>>> hits = detectors.detect({"score": [0.0] * 150 + [4.0] * 50}, list(range(200)))
>>> sorted(hits.items())
[(168, 'river.KSWIN')]
>>> copy = PluginSet.from_state(detectors.to_state())
>>> copy.bind((plugin,))
>>> copy.detect({"score": [4.0] * 10}, list(range(10))) == detectors.detect(
...     {"score": [4.0] * 10}, list(range(10)))
True
"""

from __future__ import annotations

import copy
import importlib
import inspect
import random
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from detector.errors import StateError

Input = Literal["score", "value"]
Stream = Literal["features", "errors"]
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
_DEPTH = 8  # nesting of saved detector data (river's detectors use 2)


@runtime_checkable
class DriftDetectorLike(Protocol):
    """river's ``DriftDetector`` contract: ``update(x)``, then ``drift_detected``."""

    def update(self, x: Any, /) -> Any: ...

    @property
    def drift_detected(self) -> bool: ...


def river_detector(name: str, params: Mapping[str, Any]) -> DriftDetectorLike:
    """A river drift detector by class name (``KSWIN``, ``PageHinkley``, ``binary.DDM``)."""
    module_name, _, cls_name = f"river.drift.{name}".rpartition(".")
    if module_name not in ("river.drift", "river.drift.binary"):
        raise ValueError(f"{name!r}: name a class of river.drift (e.g. KSWIN or binary.DDM)")
    from river.base import BinaryDriftDetector, DriftDetector

    cls = getattr(importlib.import_module(module_name), cls_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, DriftDetector | BinaryDriftDetector)):
        found = available()
        raise ValueError(f"{name!r} is not a river drift detector; one of: {', '.join(found)}")
    if "seed" in inspect.signature(cls).parameters and "seed" not in params:
        # Seeded unless told otherwise: an unseeded KSWIN reseeds from the OS after each
        # detection, and replay, run and a restore would then disagree.
        params = {**params, "seed": 0}
    try:
        detector: DriftDetectorLike = cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}({', '.join(map(str, params))}): {exc}") from None
    return detector


def available() -> list[str]:
    """The river drift detectors a config can name."""
    from river import drift
    from river.base import BinaryDriftDetector, DriftDetector
    from river.drift import binary

    out = []
    for prefix, module in (("", drift), ("binary.", binary)):
        for name, cls in sorted(vars(module).items()):
            if inspect.isclass(cls) and issubclass(cls, DriftDetector | BinaryDriftDetector):
                out.append(prefix + name)
    return out


@dataclass(frozen=True, eq=False)
class Plugin:
    """A detector for numeric series: ``detector`` is the prototype each series copies,
    ``name`` what alerts name as their detector, ``features`` the features it watches (None:
    every numeric one), ``input`` what it is fed (normal scores, or the values). With
    ``stream="errors"`` it watches the labels' error stream instead (1 = a wrong prediction,
    per segment), next to ADWIN there, and ``features`` and ``input`` do not apply."""

    detector: DriftDetectorLike
    name: str
    features: tuple[str, ...] | None = None
    input: Input = "score"
    stream: Stream = "features"

    def __post_init__(self) -> None:
        if not callable(getattr(self.detector, "update", None)) or not hasattr(
            self.detector, "drift_detected"
        ):
            raise TypeError(f"{self.name}: a detector needs update(x) and drift_detected")
        if not _NAME.match(self.name):
            raise ValueError(f"{self.name!r}: a name is 1-100 of A-Z a-z 0-9 _ . -")
        if self.input not in ("score", "value"):
            raise ValueError(f"{self.name}: input is score or value, not {self.input!r}")
        if self.stream not in ("features", "errors"):
            raise ValueError(f"{self.name}: stream is features or errors, not {self.stream!r}")
        try:
            save_state(self.detector)
        except StateError as exc:
            raise TypeError(f"{self.name}: its state cannot be saved: {exc}") from None

    def watches(self, feature: str) -> bool:
        return self.stream == "features" and (self.features is None or feature in self.features)

    def fresh(self) -> DriftDetectorLike:
        """A new copy of the prototype (which itself never sees a value)."""
        return copy.deepcopy(self.detector)


class PluginSet:
    """The copies of the configured detectors one series runs, and their saved state until
    :meth:`bind` gives it the plugins again (after a restore)."""

    def __init__(self, plugins: Sequence[Plugin]) -> None:
        self.plugins = tuple(plugins)
        self.detectors = [p.fresh() for p in self.plugins]
        self._pending: dict[str, Any] | None = None

    def bind(self, plugins: Sequence[Plugin]) -> None:
        """Run ``plugins`` (the config's): saved state goes to the plugin of the same name;
        a plugin without one starts afresh, state of a plugin no longer configured is dropped."""
        if self._pending is None and tuple(plugins) == self.plugins:
            return
        saved = self._pending if self._pending is not None else self._states()
        self.plugins = tuple(plugins)
        self.detectors = []
        for plugin in self.plugins:
            detector = plugin.fresh()
            if plugin.name in saved:
                load_state(detector, saved[plugin.name], plugin.name)
            self.detectors.append(detector)
        self._pending = None

    def detect(
        self, inputs: Mapping[str, Sequence[float]], positions: Sequence[int]
    ) -> dict[int, str]:
        """Feed each detector its input (``inputs[plugin.input]``, at ``positions``); the
        positions where one detected, with the first such plugin's name."""
        hits: dict[int, str] = {}
        for plugin, detector in zip(self.plugins, self.detectors, strict=True):
            update = detector.update
            for position, x in zip(positions, inputs[plugin.input], strict=True):
                update(x)
                if detector.drift_detected and position not in hits:
                    hits[position] = plugin.name
        return hits

    def _states(self) -> dict[str, Any]:
        return {p.name: save_state(d) for p, d in zip(self.plugins, self.detectors, strict=True)}

    def to_state(self) -> dict[str, Any]:
        return {"states": self._pending if self._pending is not None else self._states()}

    @classmethod
    def from_state(cls, state: Any) -> PluginSet:
        states = state.get("states") if isinstance(state, dict) else None
        if not isinstance(states, dict) or not all(isinstance(k, str) for k in states):
            raise StateError("plugin state: {'states': a dict by plugin name}")
        out = cls(())
        out._pending = states
        return out


def save_state(detector: object) -> dict[str, Any]:
    """A detector's data attributes as plain values (see the module's docstring)."""
    return _object(detector, "detector", 0)[2]  # type: ignore[no-any-return]


def load_state(detector: object, state: Any, name: str) -> None:
    """Write saved data (from :func:`save_state`) into a fresh ``detector``."""
    try:
        _restore(detector, ["o", type(detector).__qualname__, state], name, 0)
    except (TypeError, ValueError, AttributeError, IndexError) as exc:
        raise StateError(f"{name}: saved detector state does not fit: {exc}") from None


def _object(obj: object, path: str, depth: int) -> list[Any]:
    if not hasattr(obj, "__dict__") or depth > _DEPTH:
        raise StateError(
            f"{path}: {type(obj).__qualname__} holds no plain attributes (compiled code)"
        )
    attrs = {k: _data(v, f"{path}.{k}", depth + 1) for k, v in vars(obj).items()}
    return ["o", type(obj).__qualname__, attrs]


def _data(value: Any, path: str, depth: int) -> Any:
    """Tagged lists for what is not a scalar or an array, so a dict cannot pass for a tag."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value.copy()
    if inspect.ismethod(value) and value.__self__ is not None:
        return ["k"]  # a bound method: the fresh copy has its own
    if isinstance(value, random.Random):
        return ["r", value.getstate()]
    items = [_data(v, f"{path}[]", depth + 1) for v in value] if _sequence(value) else None
    if isinstance(value, deque):
        return ["q", value.maxlen, items]
    if isinstance(value, list | tuple):
        return ["l" if isinstance(value, list) else "t", items]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return ["d", {k: _data(v, f"{path}.{k}", depth + 1) for k, v in value.items()}]
    if callable(value) or isinstance(value, type):
        raise StateError(f"{path}: cannot save a {type(value).__qualname__}")
    return _object(value, path, depth)


def _sequence(value: Any) -> bool:
    return isinstance(value, deque | list | tuple)


def _restore(current: Any, saved: Any, path: str, depth: int) -> Any:
    """``saved`` as a value to put where ``current`` (the fresh copy's) is."""
    if depth > _DEPTH:
        raise ValueError(f"{path}: nested too deep")
    if saved is None or isinstance(saved, bool | int | float | str | np.ndarray):
        return saved
    if not isinstance(saved, list | tuple) or not saved or not isinstance(saved[0], str):
        raise ValueError(f"{path}: not saved detector data")
    tag, args = saved[0], saved[1:]
    if tag == "k":
        return current
    if tag == "r":
        if not isinstance(current, random.Random):
            raise ValueError(f"{path}: no random generator to restore into")
        version, internal, gauss = args[0]
        current.setstate((int(version), tuple(int(x) for x in internal), gauss))
        return current
    if tag == "o":
        qualname, attrs = args
        if type(current).__qualname__ != qualname or not hasattr(current, "__dict__"):
            raise ValueError(f"{path}: saved a {qualname}, the detector holds a {type(current)}")
        for key, value in dict(attrs).items():
            if not isinstance(key, str) or key.startswith("__"):
                raise ValueError(f"{path}: attribute {key!r}")
            setattr(
                current,
                key,
                _restore(getattr(current, key, None), value, f"{path}.{key}", depth + 1),
            )
        return current
    if tag == "d":
        return {
            str(k): _restore(None, v, f"{path}.{k}", depth + 1) for k, v in dict(args[0]).items()
        }
    items = [_restore(None, v, f"{path}[]", depth + 1) for v in args[-1]]
    if tag == "q":
        maxlen = args[0]
        return deque(items, maxlen=None if maxlen is None else int(maxlen))
    if tag in ("l", "t"):
        return items if tag == "l" else tuple(items)
    raise ValueError(f"{path}: unknown tag {tag!r}")
