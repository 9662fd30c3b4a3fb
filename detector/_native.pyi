"""Type stubs of the Rust extension module (native/src); each wrapper's docstring says more."""

from collections.abc import Callable
from typing import Any, Self, final

import numpy as np
import numpy.typing as npt

# What pyo3 puts in the module's __all__ (stubtest compares the two).
__all__ = [
    "AdwinCore",
    "CategoricalCore",
    "CategoricalSettings",
    "DecodedEvents",
    "EventDecoder",
    "NumericCore",
    "NumericSettings",
    "PageHinkleyCore",
    "SignalRecord",
    "SortedRecords",
    "WindowSettings",
    "block_dependence",
    "critical_count",
    "dependence",
    "normal_scores",
    "pairwise_sum",
    "sort_records",
    "update_all",
]

_Floats = npt.NDArray[np.float64]
_Flags = npt.NDArray[np.bool_]
_Codes = npt.NDArray[np.int32]
_Rows = npt.NDArray[np.int64]

def critical_count(n: int, a: float, b: float, alpha: float) -> int: ...
def pairwise_sum(values: _Floats) -> float: ...
def dependence(values: _Floats, scale: int) -> float: ...
def block_dependence(
    block_means: _Floats, scale: int, variance: float, longer: bool = True
) -> float | None: ...
def normal_scores(quantiles: _Floats, count: float, values: _Floats) -> _Floats: ...

@final
class AdwinCore:
    @property
    def width(self) -> int: ...
    def __new__(cls, delta: float, clock: int, min_window_length: int) -> Self: ...
    def changes(self, x: _Floats) -> list[tuple[int, int]]: ...
    def state(
        self,
    ) -> tuple[float, float, float, int, npt.NDArray[np.uint8], _Floats, _Floats]: ...
    @staticmethod
    def restored(
        delta: float,
        clock: int,
        min_window_length: int,
        width: float,
        total: float,
        variance: float,
        tick: int,
        lengths: npt.NDArray[np.uint8],
        totals: _Floats,
        variances: _Floats,
    ) -> AdwinCore: ...

@final
class PageHinkleyCore:
    @property
    def statistic(self) -> float | None: ...
    @property
    def threshold(self) -> float: ...
    @threshold.setter
    def threshold(self, value: float) -> None: ...
    def __new__(cls, min_instances: int, delta: float, threshold: float, alpha: float) -> Self: ...
    def update_many(self, x: _Floats) -> list[tuple[int, bool, float, int]]: ...

@final
class SignalRecord:
    @property
    def position(self) -> int: ...
    @property
    def firing(self) -> bool: ...
    @property
    def key(self) -> str: ...
    @property
    def detector(self) -> str: ...
    @property
    def statistic(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def severity(self) -> str: ...
    @property
    def observed_at(self) -> float: ...
    @property
    def started_at(self) -> float: ...
    @property
    def detections(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def first(self) -> float: ...
    @property
    def last(self) -> float: ...
    @property
    def values(self) -> _Floats: ...
    @property
    def shift(self) -> float: ...

_LifecycleRow = tuple[str, bool, float, str, int, int]

class _SeriesCore:
    def counters(self) -> tuple[int, int, int]: ...
    def lifecycles(self) -> list[_LifecycleRow]: ...
    def last_window(self) -> list[tuple[str, float, float]]: ...
    def history(self) -> list[tuple[float, str, float, float]]: ...
    def last_counts(self) -> npt.NDArray[np.int64] | None: ...
    def to_state(self) -> dict[str, Any]: ...

@final
class WindowSettings:
    def __new__(
        cls,
        *,
        window: int,
        window_seconds: float | None,
        min_window_values: int,
        resolve_windows: int,
        critical_shift: float,
        alpha: float,
        resolve_alpha: float,
        chi2_level: float,
        chi2_resolve_level: float,
        missing: tuple[float, float],
        type_errors: tuple[float, float],
        missing_inflation: float,
    ) -> Self: ...

@final
class NumericSettings:
    def __new__(
        cls,
        *,
        windows: WindowSettings,
        warmup: int,
        adwin_delta: float,
        ph_delta: float,
        ph_threshold: float,
        range: tuple[str, float, float],
    ) -> Self: ...

@final
class CategoricalSettings:
    def __new__(
        cls, *, windows: WindowSettings, unseen: tuple[float, float], inflation: float
    ) -> Self: ...

@final
class NumericCore(_SeriesCore):
    @property
    def dependence(self) -> float: ...
    def __new__(
        cls,
        settings: NumericSettings,
        reference: dict[str, Any],
        dependence: float,
        learn_dependence: bool,
    ) -> Self: ...
    def update(
        self, values: _Floats, errors: _Flags, times: _Floats, rows: _Rows | None = None
    ) -> list[SignalRecord]: ...
    def set_hits(self, positions: _Rows) -> None: ...
    def normal_scores(self, values: _Floats) -> _Floats: ...
    def cusum(self) -> tuple[float, float] | None: ...
    def recent_scores(self) -> _Floats: ...
    def totals(
        self, quantiles: list[float]
    ) -> tuple[int, float, float, float, float, list[float]]: ...
    @staticmethod
    def from_state(state: dict[str, Any]) -> NumericCore: ...

@final
class CategoricalCore(_SeriesCore):
    def __new__(cls, settings: CategoricalSettings, shares: _Floats, count: float) -> Self: ...
    def update(
        self,
        texts: _Codes,
        table: _Codes,
        unseen: _Flags,
        errors: _Flags,
        times: _Floats,
        rows: _Rows | None = None,
    ) -> list[SignalRecord]: ...
    def totals(self) -> npt.NDArray[np.int64]: ...
    @staticmethod
    def from_state(state: dict[str, Any]) -> CategoricalCore: ...

def update_all(
    numeric: list[tuple[NumericCore, tuple[_Floats, _Flags, _Floats, _Rows | None]]],
    categorical: list[
        tuple[CategoricalCore, tuple[_Codes, _Codes, _Flags, _Flags, _Floats, _Rows | None]]
    ],
    threads: int,
) -> tuple[list[list[SignalRecord] | str], list[list[SignalRecord] | str]]: ...

@final
class SortedRecords:
    @property
    def errors(self) -> list[Any]: ...
    @property
    def internal(self) -> list[Any]: ...
    @property
    def inputs(self) -> list[Any]: ...
    @property
    def values(self) -> list[bytes | None]: ...
    @property
    def times(self) -> _Floats: ...
    @property
    def partitions(self) -> npt.NDArray[np.int32]: ...
    @property
    def offsets(self) -> npt.NDArray[np.int64]: ...
    @property
    def labels(self) -> _Flags: ...
    @property
    def next_offsets(self) -> list[tuple[str, int, int]]: ...

def sort_records(
    messages: list[Any], internal_topic: str, labels_topic: str | None = None
) -> SortedRecords: ...

_Path = tuple[str | int, ...]  # a compiled dotted path: object keys and list indexes

@final
class DecodedEvents:
    @property
    def positions(self) -> npt.NDArray[np.int64]: ...
    @property
    def times(self) -> _Floats: ...
    @property
    def ids(self) -> list[str | None] | None: ...
    @property
    def segments(self) -> list[tuple[npt.NDArray[np.int32], list[str]]]: ...
    @property
    def numeric(self) -> list[tuple[_Floats, _Flags]]: ...
    @property
    def categorical(self) -> list[tuple[npt.NDArray[np.int32], list[str], _Flags]]: ...
    @property
    def rejections(self) -> list[tuple[int, str, str]]: ...
    @property
    def samples(self) -> list[int]: ...
    @property
    def accepted(self) -> int: ...

@final
class EventDecoder:
    def __new__(
        cls,
        id: _Path | None,
        time: _Path | None,
        segments: list[_Path],
        numeric: list[_Path],
        categorical: list[_Path],
        max_bytes: int,
        sample_every: int,
    ) -> Self: ...
    def decode(
        self,
        values: list[bytes | None],
        default_times: _Floats,
        accepted: int,
        resolve: Callable[[int, bytes | None], Any],
    ) -> DecodedEvents: ...
