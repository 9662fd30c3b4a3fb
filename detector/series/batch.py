"""Many series' chunks updated at once: the engine's stage two for data series.

Warm-ups run in Python (:meth:`~detector.series.base.SeriesBase.begin`), then every core's
per-value work in Rust on ``run.threads`` threads without the GIL
(:func:`detector._native.update_all`), then each core's status changes become alerts. A series
whose update raises, in Python or in its core, is handed to ``reset`` (the engine replaces it
by a fresh one) and the other series' updates stand: no input stops the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from detector._native import SignalRecord, update_all
from detector.alerts import AlertEvent, build_alert
from detector.chunks import SeriesChunk, UnitKey
from detector.series.base import CoreUpdate
from detector.series.categorical import CategoricalSeries
from detector.series.numeric import NumericSeries

Ranked = tuple[int, int, int, AlertEvent]  # origin row, 0 (data), series order, alert
Reset = Callable[[UnitKey, Exception, bool], None]


def update_series(
    chunks: list[SeriesChunk],
    series_of: Callable[[UnitKey], NumericSeries | CategoricalSeries],
    reset: Reset,
    model: str,
    threads: int,
) -> list[Ranked]:
    """Update the chunks' series (one chunk each) and return their alerts, ranked."""
    numeric: list[tuple[SeriesChunk, CoreUpdate]] = []
    categorical: list[tuple[SeriesChunk, CoreUpdate]] = []
    for chunk in chunks:
        for attempt in (1, 2):  # a fresh series takes the rows its broken one failed on
            try:
                is_numeric, task = _begin(chunk, series_of(chunk.key))
            except Exception as exc:
                reset(chunk.key, exc, attempt == 1)
                continue
            if task is not None:
                (numeric if is_numeric else categorical).append((chunk, task))
            break
    found = _update_all(numeric, categorical, threads)
    out: list[Ranked] = []
    for tasks, records in zip((numeric, categorical), found, strict=True):
        for (chunk, task), signal_records in zip(tasks, records, strict=True):
            feature, dimension, value = chunk.key
            segment = {} if dimension is None or value is None else {dimension: value}
            try:
                if isinstance(signal_records, str):
                    raise RuntimeError(signal_records)
                for signal in task.finish(signal_records):
                    alert = build_alert(model, feature, segment, signal)
                    row = int(chunk.part.rows[chunk.members[signal.position]])
                    out.append((row, 0, chunk.order, alert))
            except Exception as exc:
                reset(chunk.key, exc, False)
    return out


def _begin(
    chunk: SeriesChunk, series: NumericSeries | CategoricalSeries
) -> tuple[bool, CoreUpdate | None]:
    """(numeric?, its core's update) for a series chunk, after the series' warm-up."""
    part, name = chunk.part, chunk.key[0]
    errors, members = part.errors[name], chunk.members
    if isinstance(series, NumericSeries):
        return True, series.begin(part.numeric[name], errors, part.times, members)
    return False, series.begin(part.categorical[name], errors, part.times, members)


def _update_all(
    numeric: list[tuple[SeriesChunk, CoreUpdate]],
    categorical: list[tuple[SeriesChunk, CoreUpdate]],
    threads: int,
) -> tuple[list[list[SignalRecord] | str], list[list[SignalRecord] | str]]:
    """Every core's update at once; should the batch be refused before any core ran (a core
    in use, arrays of other lengths), each core alone, so only the bad ones fail."""
    numeric_jobs: list[Any] = [t.job for _, t in numeric]
    categorical_jobs: list[Any] = [t.job for _, t in categorical]
    try:
        return update_all(numeric_jobs, categorical_jobs, threads)
    except Exception:
        return (
            [_alone(job, numeric=True) for job in numeric_jobs],
            [_alone(job, numeric=False) for job in categorical_jobs],
        )


def _alone(job: Any, numeric: bool) -> list[SignalRecord] | str:
    try:
        found = update_all([job], [], 1) if numeric else update_all([], [job], 1)
        return (found[0] if numeric else found[1])[0]
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def rounds(chunks: list[SeriesChunk]) -> list[list[SeriesChunk]]:
    """Chunks in rounds that hold each unit at most once (its later chunks in later rounds, in
    order): a round's series update in parallel."""
    out: list[list[SeriesChunk]] = []
    seen: dict[UnitKey, int] = {}
    for chunk in chunks:
        index = seen.get(chunk.key, 0)
        seen[chunk.key] = index + 1
        if index == len(out):
            out.append([])
        out[index].append(chunk)
    return out
