"""Type stubs of the Rust extension module (native/src): see each wrapper's docstring."""

import numpy as np
import numpy.typing as npt

class AdwinCore:
    width: int
    def __init__(self, delta: float, clock: int, min_window_length: int) -> None: ...
    def changes(self, x: npt.NDArray[np.float64]) -> list[tuple[int, int]]: ...
    def state(
        self,
    ) -> tuple[
        float,
        float,
        float,
        int,
        npt.NDArray[np.uint8],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
    ]: ...
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
        totals: npt.NDArray[np.float64],
        variances: npt.NDArray[np.float64],
    ) -> AdwinCore: ...

class PageHinkleyCore:
    statistic: float | None
    threshold: float
    def __init__(
        self, min_instances: int, delta: float, threshold: float, alpha: float
    ) -> None: ...
    def update_many(self, x: npt.NDArray[np.float64]) -> list[tuple[int, bool, float, int]]: ...
    def state(self) -> tuple[int, list[float]]: ...
    def set_state(self, seen: int, state: list[float]) -> None: ...
