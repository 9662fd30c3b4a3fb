"""Type stubs of the Rust extension module (native/src); each wrapper's docstring says more."""

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]
Codes = npt.NDArray[np.int32]
Rows = npt.NDArray[np.int64]

def critical_count(n: int, a: float, b: float, alpha: float) -> int: ...
def pairwise_sum(values: Floats) -> float: ...
def dependence(values: Floats, scale: int) -> float: ...
def block_dependence(
    block_means: Floats, scale: int, variance: float, longer: bool = True
) -> float | None: ...

class AdwinCore:
    width: int
    def __init__(self, delta: float, clock: int, min_window_length: int) -> None: ...
    def changes(self, x: Floats) -> list[tuple[int, int]]: ...
    def state(
        self,
    ) -> tuple[float, float, float, int, npt.NDArray[np.uint8], Floats, Floats]: ...
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
        totals: Floats,
        variances: Floats,
    ) -> AdwinCore: ...

class PageHinkleyCore:
    statistic: float | None
    threshold: float
    def __init__(
        self, min_instances: int, delta: float, threshold: float, alpha: float
    ) -> None: ...
    def update_many(self, x: Floats) -> list[tuple[int, bool, float, int]]: ...

class SignalRecord:
    position: int
    firing: bool
    key: str
    detector: str
    statistic: str
    value: float
    threshold: float
    severity: str
    observed_at: float
    started_at: float
    detections: int
    count: int
    first: float
    last: float
    values: Floats
    shift: float

LifecycleRow = tuple[str, bool, float, str, int, int]

class _SeriesCore:
    def counters(self) -> tuple[int, int, int]: ...
    def lifecycles(self) -> list[LifecycleRow]: ...
    def last_window(self) -> list[tuple[str, float, float]]: ...
    def history(self) -> list[tuple[float, str, float, float]]: ...
    def last_counts(self) -> npt.NDArray[np.int64] | None: ...
    def to_state(self) -> dict[str, Any]: ...

class NumericCore(_SeriesCore):
    dependence: float
    def __init__(
        self,
        settings: dict[str, Any],
        reference: dict[str, Any],
        dependence: float,
        learn_dependence: bool,
    ) -> None: ...
    def update(
        self, values: Floats, errors: Flags, times: Floats, rows: Rows | None = None
    ) -> list[SignalRecord]: ...
    def set_hits(self, positions: Rows) -> None: ...
    def normal_scores(self, values: Floats) -> Floats: ...
    def cusum(self) -> tuple[float, float] | None: ...
    def recent_scores(self) -> Floats: ...
    def totals(
        self, quantiles: list[float]
    ) -> tuple[int, float, float, float, float, list[float]]: ...
    @staticmethod
    def from_state(state: dict[str, Any]) -> NumericCore: ...

class CategoricalCore(_SeriesCore):
    def __init__(self, settings: dict[str, Any], shares: Floats, count: float) -> None: ...
    def update(
        self,
        texts: Codes,
        table: Codes,
        unseen: Flags,
        errors: Flags,
        times: Floats,
        rows: Rows | None = None,
    ) -> list[SignalRecord]: ...
    def totals(self) -> npt.NDArray[np.int64]: ...
    @staticmethod
    def from_state(state: dict[str, Any]) -> CategoricalCore: ...

def update_all(
    numeric: list[tuple[NumericCore, tuple[Floats, Flags, Floats, Rows | None]]],
    categorical: list[
        tuple[CategoricalCore, tuple[Codes, Codes, Flags, Flags, Floats, Rows | None]]
    ],
    threads: int,
) -> tuple[list[list[SignalRecord] | str], list[list[SignalRecord] | str]]: ...

class SortedRecords:
    errors: list[Any]
    internal: list[Any]
    inputs: list[Any]
    values: list[bytes | None]
    times: Floats
    partitions: npt.NDArray[np.int32]
    offsets: npt.NDArray[np.int64]
    labels: Flags
    next_offsets: list[tuple[str, int, int]]

def sort_records(
    messages: list[Any], internal_topic: str, labels_topic: str | None = None
) -> SortedRecords: ...

Path = tuple[str | int, ...]  # a compiled dotted path: object keys and list indexes

class DecodedEvents:
    positions: npt.NDArray[np.int64]
    times: Floats
    ids: list[str | None] | None
    segments: list[tuple[npt.NDArray[np.int32], list[str]]]
    numeric: list[tuple[Floats, Flags]]
    categorical: list[tuple[npt.NDArray[np.int32], list[str], Flags]]
    rejections: list[tuple[int, str, str]]
    samples: list[int]
    accepted: int

class EventDecoder:
    def __init__(
        self,
        id: Path | None,
        time: Path | None,
        segments: list[Path],
        numeric: list[Path],
        categorical: list[Path],
        max_bytes: int,
        sample_every: int,
    ) -> None: ...
    def decode(
        self,
        values: list[bytes | None],
        default_times: Floats,
        accepted: int,
        resolve: Callable[[int, bytes | None], Any],
    ) -> DecodedEvents: ...
