"""Checks on the stream as a whole: segment volume and schema changes.

**Segment volume.** Each segment value's share of all traffic is learned from the first
``detection.warmup`` events. Every ``VOLUME_WINDOW_FACTOR * detection.window`` events, a value
whose count is implausibly low for its share (beta-binomial lower tail, as in
:mod:`detector.quality`) fires ``segment_volume``: a segment that went silent or whose rate
dropped sharply while the rest of the traffic kept flowing. Shares, unlike raw rates, do not
move with the time of day, so diurnal traffic does not page.

**Stream silence** (``run`` only). Event time stops when events stop, so a dead stream can only
be seen on the wall clock: the Kafka worker reports how long it has polled without a record, and
past ``detection.stream_silence_seconds`` (after traffic was seen) ``stream_silence`` fires for
all traffic; the next event resolves it.

**Schema.** Every ``SCHEMA_SAMPLE``-th event's field paths are collected (by the decoder, which
sees the raw objects); those seen in the
first ``detection.warmup`` events are the expected schema. A path that appears later fires
``schema`` once (as feature = the new path), then counts as known.

Both count events in stream order, so they are independent of micro-batching.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from scipy.stats import betabinom

from detector.alerts import (
    AlertEvent,
    Lifecycle,
    Severity,
    Signal,
    Summary,
    Window,
    build_alert,
    rfc3339,
)
from detector.chunks import StreamChunk
from detector.columns import Categories
from detector.config import Config, DetectionConfig
from detector.series.base import RESOLVE_ALPHA

VOLUME_WINDOW_FACTOR = 10
SCHEMA_SAMPLE = 64
VOLUME_FEATURE = "__events__"
_MIN_REFERENCE_COUNT = 5


@lru_cache(maxsize=65_536)
def _lowest_plausible(n: int, a: float, b: float, alpha: float) -> int:
    """Largest count c with P(BetaBinomial(n, a, b) <= c) < alpha, or -1 if none."""
    return int(betabinom.ppf(alpha, n, a, b)) - 1


def _signal(
    status: str,
    check: str,
    life: Lifecycle,
    observed: float,
    value: float,
    threshold: float,
    events: int,
    window: Window,
    current: Summary,
    reference: Summary,
    headline: str,
) -> Signal:
    severity: Severity = life.severity
    statistic = "share" if check == "segment_volume" else "new_field"
    return Signal(
        position=0,
        status="firing" if status == "firing" else "resolved",
        kind="quality",
        check=check,
        detector=check,
        statistic=statistic,
        value=value,
        threshold=threshold,
        severity=severity,
        observed_at=observed,
        started_at=life.started_at,
        window=window,
        reference=reference,
        current=current,
        series_events=events,
        detections=life.detections,
        headline=headline,
    )


class VolumeCheck:
    """Share of all traffic per segment value, window by window."""

    def __init__(self, config: DetectionConfig, alpha: float) -> None:
        self.config = config
        self.alpha = alpha
        self.size = VOLUME_WINDOW_FACTOR * config.window
        self.events = 0
        self._reference: dict[str, Counter[str]] | None = None
        self._learning: dict[str, Counter[str]] = {}
        self._counts: dict[str, Counter[str]] = {}
        self._filled = 0  # events in the open window
        self._first = 0.0
        self.lifecycles: dict[tuple[str, str], Lifecycle] = {}

    def update(
        self, segments: dict[str, Categories], times: list[float]
    ) -> list[tuple[int, dict[str, str], Signal]]:
        """Count a batch's segment values; return (row, segment, signal) for closed windows."""
        out: list[tuple[int, dict[str, str], Signal]] = []
        start, size = 0, len(times)
        while start < size:
            if self._reference is None:
                take = min(self.config.warmup - self.events, size - start)
                self._add(self._learning, segments, start, start + take)
                self.events += take
                start += take
                if self.events == self.config.warmup:
                    self._reference, self._learning = self._learning, {}
                    self._counts = {d: Counter() for d in self._reference}
                continue
            if self._filled == 0:
                self._first = times[start]
            take = min(self.size - self._filled, size - start)
            self._add(self._counts, segments, start, start + take)
            self.events += take
            self._filled += take
            start += take
            if self._filled == self.size:
                row = start - 1
                out += [(row, seg, sig) for seg, sig in self._judge(times[row])]
                self._counts = {d: Counter() for d in self._reference}
                self._filled = 0
        return out

    @staticmethod
    def _add(
        target: dict[str, Counter[str]], segments: dict[str, Categories], start: int, stop: int
    ) -> None:
        for dimension, values in segments.items():
            target.setdefault(dimension, Counter()).update(values.take(slice(start, stop)).counts())

    def _judge(self, when: float) -> list[tuple[dict[str, str], Signal]]:
        assert self._reference is not None
        out: list[tuple[dict[str, str], Signal]] = []
        total = self.config.warmup
        window = Window(
            count=self.size, first_event_time=rfc3339(self._first), last_event_time=rfc3339(when)
        )
        for dimension, reference in sorted(self._reference.items()):
            for value, seen in sorted(reference.items()):
                if seen < _MIN_REFERENCE_COUNT:
                    continue
                count = self._counts.get(dimension, Counter())[value]
                a, b = seen + 0.5, total - seen + 0.5
                low = _lowest_plausible(self.size, a, b, self.alpha)
                clean = count > _lowest_plausible(self.size, a, b, RESOLVE_ALPHA)
                life = self.lifecycles.setdefault((dimension, value), Lifecycle())
                status = None
                if count <= low:
                    if life.detect(when, "critical" if count == 0 else "warning"):
                        status = "firing"
                elif life.window_checked(clean, self.config.resolve_windows):
                    status = "resolved"
                if status is None:
                    continue
                share, expected = count / self.size, seen / total
                what = "no events" if count == 0 else f"{count} events"
                headline = (
                    f"{what} in the last {self.size:,} (share {expected:.1%} -> {share:.1%}, "
                    f"about {expected * self.size:,.0f} expected)"
                )
                signal = _signal(
                    status,
                    "segment_volume",
                    life,
                    when,
                    share,
                    (low + 0.5) / self.size,
                    self.events,
                    window,
                    Summary(count=count),
                    Summary(count=seen),
                    headline,
                )
                out.append(({dimension: value}, signal))
        return out


class SchemaCheck:
    """New field paths in the events, compared with those of the warm-up."""

    def __init__(self, config: DetectionConfig) -> None:
        self.config = config
        self.events = 0  # index of the last event checked
        self.known: set[str] = set()
        self.lifecycles: dict[str, Lifecycle] = {}

    def check(self, paths: set[str], event_index: int, when: float) -> list[tuple[str, Signal]]:
        """Judge the field paths of the stream's ``event_index``-th event (a sampled one)."""
        self.events = event_index
        if event_index <= self.config.warmup:
            self.known |= paths
            return []
        signals: list[tuple[str, Signal]] = []
        for path in sorted(paths - self.known):
            self.known.add(path)
            life = self.lifecycles.setdefault(path, Lifecycle())
            life.detect(when, "warning")
            window = Window(count=1, first_event_time=rfc3339(when), last_event_time=rfc3339(when))
            headline = f"new field {path!r} not seen in the first {self.config.warmup:,} events"
            signal = _signal(
                "firing",
                "schema",
                life,
                when,
                1.0,
                0.0,
                self.events,
                window,
                Summary(count=1),
                Summary(count=len(self.known)),
                headline,
            )
            signals.append((path, signal))
        return signals


class SilenceCheck:
    """The whole stream going quiet, judged on the wall clock by the Kafka worker."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.lifecycle = Lifecycle()
        self._last_event_time = 0.0

    def _signal(self, status: str, idle: float, events: int, when: float) -> Signal:
        window = Window(
            count=0, first_event_time=rfc3339(self._last_event_time), last_event_time=rfc3339(when)
        )
        headline = (
            f"no events for {idle:,.0f} s (wall clock) since the event of {rfc3339(when)}"
            if status == "firing"
            else "events arrive again"
        )
        return _signal(
            status,
            "stream_silence",
            self.lifecycle,
            when,
            idle,
            self.seconds or 0.0,
            events,
            window,
            Summary(count=0),
            Summary(count=events),
            headline,
        )

    def idle(self, idle_seconds: float, events: int, last_event_time: float) -> Signal | None:
        """Called while no record arrives; fires once past the configured silence."""
        self._last_event_time = last_event_time
        if self.seconds is None or events == 0 or idle_seconds < self.seconds:
            return None
        if not self.lifecycle.detect(last_event_time, "critical"):
            return None
        return self._signal("firing", idle_seconds, events, last_event_time)

    def traffic(self, events: int, when: float) -> Signal | None:
        """Called with each batch; resolves a firing silence."""
        if not self.lifecycle.firing:
            return None
        self.lifecycle.firing = False
        return self._signal("resolved", 0.0, events, when)


class StreamUnit:
    """The stream-wide checks (segment volume, schema, silence): one owner sees all traffic."""

    def __init__(self, config: Config, alpha: float) -> None:
        self.model = config.model
        self.events = 0
        self.last_event_time = 0.0
        self.schema = SchemaCheck(config.detection)
        self.silence = SilenceCheck(config.detection.stream_silence_seconds)
        self.volume = VolumeCheck(config.detection, alpha) if config.segments else None

    def update(self, chunk: StreamChunk) -> list[tuple[int, AlertEvent]]:
        """(origin row, alert) for the chunk's events, in row order."""
        out: list[tuple[int, AlertEvent]] = []
        rows = chunk.rows.tolist()
        first_event = self.events  # stream index before this chunk
        self.events += len(rows)
        resumed = self.silence.traffic(self.events, float(chunk.times[0]))
        if resumed is not None:
            out.append((rows[0], build_alert(self.model, VOLUME_FEATURE, {}, resumed)))
        self.last_event_time = float(chunk.times[-1])
        for index, paths in chunk.schema_samples:
            when = float(chunk.times[index])
            for path, signal in self.schema.check(set(paths), first_event + index + 1, when):
                out.append((rows[index], build_alert(self.model, path, {}, signal)))
        if self.volume is not None:
            for index, segment, signal in self.volume.update(chunk.segments, chunk.times.tolist()):
                out.append((rows[index], build_alert(self.model, VOLUME_FEATURE, segment, signal)))
        return out

    def idle(self, seconds: float) -> AlertEvent | None:
        signal = self.silence.idle(seconds, self.events, self.last_event_time)
        return None if signal is None else build_alert(self.model, VOLUME_FEATURE, {}, signal)
