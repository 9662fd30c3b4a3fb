"""Does restored state have the shape of what the engine would build? :func:`check_shape`.

A snapshot can decode cleanly (:mod:`detector.state.codec` builds only allow-listed classes)
and still hold a string where a counter belongs, or a dict where a core belongs: the unit would
then fail on its first update. So a restored unit is compared with a fresh one of the same
key (its *template*): the same class, the same fields, and each field of the same type as the
template's (recursively for the project's objects; a field the template leaves ``None``, not
learned yet, may hold anything; ints and floats stand in for each other; arrays keep their
kind of number and dimensions). Cores restored through ``from_state`` validated themselves.

>>> class Unit:
...     def __init__(self): self.events, self.ref = 0, None
>>> good, bad = Unit(), Unit()
>>> good.events, bad.events = 7, "7"
>>> check_shape(good, Unit())
>>> check_shape(bad, Unit())
Traceback (most recent call last):
...
detector.errors.StateError: unit.events: a str where the state holds a int
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

import numpy as np

from detector.errors import StateError

_MAX_DEPTH = 20


def check_shape(value: Any, template: Any, path: str = "unit", depth: int = 0) -> None:
    """Raise :class:`StateError` naming the first place ``value`` differs from ``template``."""
    if template is None or depth > _MAX_DEPTH:
        return
    kind = type(template)
    if _number(template) and _number(value):
        return
    if type(value) is not kind:
        raise StateError(
            f"{path}: a {type(value).__name__} where the state holds a {kind.__name__}"
        )
    if isinstance(template, np.ndarray):
        if value.dtype.kind != template.dtype.kind or value.ndim != template.ndim:
            raise StateError(f"{path}: an array of {value.dtype}, {value.ndim}-d")
        return
    if isinstance(template, dict | Counter):
        _check_items(value, template, path, depth)
        return
    if isinstance(template, tuple):
        if len(value) == len(template):
            for i, (item, expected) in enumerate(zip(value, template, strict=True)):
                check_shape(item, expected, f"{path}[{i}]", depth + 1)
        return
    if isinstance(template, list | deque):
        first = template[0] if len(template) else None
        if first is not None and all(type(t) is type(first) for t in template):
            for i, item in enumerate(value):
                check_shape(item, first, f"{path}[{i}]", depth + 1)
        return
    fields = getattr(template, "__dict__", None)
    if fields is None:
        return
    restored = vars(value)
    if set(restored) != set(fields):
        missing, extra = sorted(set(fields) - set(restored)), sorted(set(restored) - set(fields))
        raise StateError(f"{path}: fields differ (missing {missing}, unexpected {extra})")
    for name, expected in fields.items():
        check_shape(restored[name], expected, f"{path}.{name}", depth + 1)


def _check_items(value: Any, template: Any, path: str, depth: int) -> None:
    """The values of a mapping against the template's, where both have the key."""
    for key, expected in template.items():
        if key in value:
            check_shape(value[key], expected, f"{path}[{key!r}]", depth + 1)


def _number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)
