"""The embeddable engine: :class:`Monitor`, the detector as a Python object (no Kafka).

A monitor runs the engine of ``replay`` on events you hand it: the same decoding, the same key
order (:mod:`detector.feed`) and so byte-identical alerts, however the events are split over
calls. Events may be dicts, JSON bytes or str lines (one event each), or a pandas DataFrame
whose column names are the dotted paths (``features.amount``); pandas is never required.

>>> from detector import Monitor
>>> from detector.testing.synthetic import Drift, SyntheticStream, config_dict
>>> stream = SyntheticStream(seed=7)
>>> config = {k: v for k, v in config_dict(stream).items() if k != "topics"}
>>> monitor = Monitor(config=config)
>>> drift = Drift("amount", start=20_000, shift=1.0, segment=("country", "DE"))
>>> alerts = monitor.process(stream.events(40_000, [drift]))
>>> first = alerts[0]["data"]
>>> first["status"], first["feature"], first["segment"]
('firing', 'amount', {'country': 'DE'})
>>> monitor.summary()["records"], monitor.summary()["rejected"]
(40000, {})
>>> later = Monitor.restore(monitor.state(), config=config)
>>> later.summary() == monitor.summary()
True
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from detector.alerts import AlertEvent, alert_bytes
from detector.applier import ApplyStats
from detector.baseline import Baseline, BaselineBuilder, load_baseline
from detector.config import Config, load_config, parse_config
from detector.detectors.plugins import Plugin
from detector.engine import Engine
from detector.errors import ConfigError, StateError
from detector.events import Decoder, Rejection
from detector.feed import Feed
from detector.inputs import nest
from detector.labels.baseline import LabelSummary
from detector.labels.decode import LabelDecoder
from detector.labels.summary import labels_summary
from detector.merge import MergeState, OrderedMerge
from detector.order import LABEL_SOURCES, Bound
from detector.replay import EVENTS, ReplayReport, line_batches, read_merged
from detector.report import Report, report_of
from detector.state import decode_state, encode_state
from detector.state.shape import check_shape

__all__ = ["Events", "Monitor", "Plugin", "Report", "records"]

Events = Iterable[Mapping[str, Any] | bytes | str] | str | bytes | Any  # Any: a DataFrame
OnRejection = Callable[[int, Rejection, bytes], None]
API_STATE = 1  # the layout of Monitor.state() around the engine's units
_JSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """JSON for what orjson does not know: timestamps as RFC 3339, numpy scalars as numbers."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError


def _encode(event: Any) -> bytes:
    """One event as the JSON record ``replay`` would read (never raises: bad ones get rejected)."""
    if isinstance(event, bytes | bytearray | memoryview):
        return bytes(event)
    if isinstance(event, str):
        return event.encode("utf-8", errors="replace")
    try:
        return orjson.dumps(event, default=_default, option=_JSON)
    except TypeError:
        return repr(event).encode("utf-8", errors="replace")  # not JSON: the decoder rejects it


def _is_frame(events: Any) -> bool:
    pandas = sys.modules.get("pandas")  # a DataFrame means pandas is imported: never import it
    return pandas is not None and isinstance(events, pandas.DataFrame)


def _frame_rows(frame: Any) -> Iterator[dict[str, Any]]:
    """A frame's rows as nested events: dotted columns nest, empty cells (None, NaN) are absent."""
    for row in frame.to_dict(orient="records"):
        cells = {
            str(k): v
            for k, v in row.items()
            if v is not None and not (isinstance(v, float) and math.isnan(v))
        }
        yield nest(cells)


def records(events: Events) -> Iterator[bytes]:
    """JSON records of any supported input: the lines ``replay`` reads (blank ones skipped)."""
    if isinstance(events, str | bytes):
        events = events.splitlines()
    elif isinstance(events, Mapping):
        events = [events]
    elif _is_frame(events):
        events = _frame_rows(events)
    for event in events:
        record = _encode(event)
        if record.strip():
            yield record


def _as_config(config: Config | Mapping[str, Any] | str | Path) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, str | Path):
        return load_config(config)
    return parse_config(dict(config))


def _fingerprint(config: Config) -> str:
    text = orjson.dumps(config.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()[:16]


class Monitor:
    """The detection engine of one model, fed from Python.

    ``config``: a :class:`~detector.config.Config`, or its YAML content as a dict (``topics``
    and ``kafka`` may be left out). ``baseline``: a :class:`~detector.baseline.Baseline`, a
    baseline file, or None for the config's ``baseline`` (warm-up when it names none).
    ``on_rejection(record, rejection, raw)`` hears of each rejected event (1-based record
    number, as ``replay --dead-letter`` writes it); rejections never raise. ``plugins``: more
    drift detectors (:class:`~detector.detectors.plugins.Plugin`: any object with river's
    ``update`` / ``drift_detected``), next to the config's ``detection.plugins``.
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any],
        baseline: Baseline | str | Path | None = None,
        on_rejection: OnRejection | None = None,
        plugins: Sequence[Plugin] = (),
    ) -> None:
        self.config = config = _as_config(config)
        if baseline is None and config.baseline:
            baseline = config.baseline
        if isinstance(baseline, str | Path):
            baseline = load_baseline(baseline, config)
        if baseline is not None and baseline.model != config.model:
            raise ConfigError(f"baseline: it is for model {baseline.model!r}, not {config.model!r}")
        self.engine = Engine(config, baseline, plugins)
        self.on_rejection = on_rejection
        self._decoder = Decoder(config)
        self._labels = LabelDecoder(config) if config.label is not None else None
        self._sources = [EVENTS] if config.label is None else [EVENTS, LABEL_SOURCES]
        self._feed = Feed(self.engine, self._sources)
        self._counts = ReplayReport(engine=self.engine)  # replay's counters

    @classmethod
    def from_config(
        cls,
        path: str | Path,
        baseline: Baseline | str | Path | None = None,
        plugins: Sequence[Plugin] = (),
    ) -> Monitor:
        """A monitor from a YAML config file (its ``baseline:`` relative to the file)."""
        return cls(load_config(path), baseline, plugins=plugins)

    @staticmethod
    def baseline_from(
        config: Config | Mapping[str, Any] | str | Path, training_events: Events
    ) -> Baseline:
        """The baseline ``drift-detector baseline`` builds from the same training events (save
        it with ``path.write_bytes(baseline.to_json())``); with a label section, rows carrying
        their label at ``label.path`` add the ``labels`` entry and its calibration."""
        config = _as_config(config)
        builder = BaselineBuilder(config)
        labels = LabelSummary(config) if config.label is not None else None
        for chunk in line_batches(records(training_events), 5000):
            builder.add(chunk)
            if labels is not None:  # rows with their label: the estimate's calibration
                labels.add(chunk)
        baseline = builder.build()
        if labels is not None:
            baseline.labels = labels.build()
        return baseline

    def process(
        self, events: Events | None = None, labels: Events | None = None
    ) -> list[dict[str, Any]]:
        """Feed events (and label records, as ``replay --labels``); the alerts, as CloudEvent
        dicts. Each call continues the stream. Events and labels of one call are merged in key
        order, exactly as ``replay`` merges its two files; a source left out of a call has
        nothing for now (like a quiet Kafka partition), so labels that belong between events
        give ``replay``'s alerts only when passed in the same call."""
        if labels is not None and self._labels is None:
            raise ConfigError("labels: the config has no label section (label.path)")
        size, counts, feed = self.config.run.batch_size, self._counts, self._feed
        inputs: dict[int, Iterator[list[bytes]]] = {}
        if events is not None:
            inputs[EVENTS] = line_batches(records(events), size)
        if labels is not None:
            inputs[LABEL_SOURCES] = line_batches(records(labels), size)
        for source in self._sources:  # this call's sources hold each other, the rest are quiet
            feed.merge.end(source, at_end=source not in inputs)
        out = list(
            read_merged(feed, inputs, self._decoder, self._labels, counts, self.on_rejection)
        )
        counts.alerts += len(out)
        return [orjson.loads(alert_bytes(alert)) for alert in out]

    def summary(self) -> dict[str, Any]:
        """What ``replay`` prints at the end: records, rejections by reason, alerts, series (and
        the labels' counters and metrics with a label section)."""
        counts = self._counts
        out: dict[str, Any] = {
            "records": counts.records,
            "rejected": dict(counts.rejected),
            "alerts": counts.alerts,
            "series": len(self.engine.series),
        }
        if self.config.label is not None:
            out["labels"] = labels_summary(
                self.engine.performance, counts.labels, counts.labels_rejected
            )
        return out

    def report(self) -> Report:
        """The drift report of what the monitor has seen so far (``drift-detector report``):
        ``.html``, and the same content as ``.json`` / ``.to_dict()`` (docs/report.md)."""
        return report_of(self.engine, datetime.now(UTC).isoformat(timespec="seconds"))

    def state(self) -> bytes:
        """The monitor's state in the versioned snapshot format (:mod:`detector.state`)."""
        engine, feed, counts = self.engine, self._feed, self._counts
        units = engine.units
        snapshot = {
            "api": API_STATE,
            "config": _fingerprint(self.config),
            "units": [[list(key), units.unit(key)] for key in units.unit_keys()],
            "bounds": [[b.source, b.ptime, b.offset, b.at_end] for b in feed.merge.bounds.values()],
            "received": dict(feed.merge.received),
            "ptimes": dict(feed._ptimes),
            "offsets": dict(feed._offsets),
            "accepted": self._decoder.accepted,
            "counts": [counts.records, counts.alerts, counts.labels],
            "rejected": [dict(counts.rejected), dict(counts.labels_rejected)],
            "stats": [getattr(engine.stats, f.name) for f in fields(engine.stats)],
            "recent": [alert_bytes(a).decode() for a in engine.recent_alerts],
        }
        return encode_state(snapshot, units.shared_state())

    @classmethod
    def restore(
        cls,
        data: bytes,
        config: Config | Mapping[str, Any] | str | Path,
        baseline: Baseline | str | Path | None = None,
        on_rejection: OnRejection | None = None,
        plugins: Sequence[Plugin] = (),
    ) -> Monitor:
        """A monitor that continues where the one whose :meth:`state` gave ``data`` stopped;
        ``config``, ``baseline`` and ``plugins`` must be the same (a plugin's saved data goes
        into a fresh copy of the one of the same name). Unusable data raises
        :class:`~detector.errors.StateError`."""
        monitor = cls(_as_config(config), baseline, on_rejection, plugins)
        engine, feed, counts = monitor.engine, monitor._feed, monitor._counts
        units = engine.units
        snap = decode_state(data, units.shared_state())
        if not isinstance(snap, dict) or snap.get("api") != API_STATE:
            raise StateError(f"not the state of a version {API_STATE} Monitor")
        if snap["config"] != _fingerprint(monitor.config):
            raise StateError("it was taken under another config")
        try:
            for key, unit in snap["units"]:
                unit_key = (str(key[0]), key[1], key[2])
                check_shape(unit, units.template(unit_key))
                units.install(unit_key, unit)
            bounds = {
                int(s): Bound(float(t), int(s), int(o), bool(e)) for s, t, o, e in snap["bounds"]
            }
            state = MergeState(bounds, {int(s): int(o) for s, o in snap["received"].items()})
            feed.merge = OrderedMerge(monitor._sources, state=state)
            feed._ptimes = {int(s): float(t) for s, t in snap["ptimes"].items()}
            feed._offsets = {int(s): int(o) for s, o in snap["offsets"].items()}
            monitor._decoder.accepted = int(snap["accepted"])
            counts.records, counts.alerts, counts.labels = (int(n) for n in snap["counts"])
            counts.rejected.update(snap["rejected"][0])
            counts.labels_rejected.update(snap["rejected"][1])
            # EngineStats' fields; the series count is the units restored
            events, firing, resolved, _, reset = (int(v) for v in snap["stats"])
            engine.splitter.events = events
            engine.applier.stats = ApplyStats(firing, resolved, reset)
            engine.recent_alerts.extend(AlertEvent.model_validate_json(a) for a in snap["recent"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"a Monitor state that does not fit: {exc}") from exc
        units.take_dirty()  # the state as restored is what a snapshot would hold
        return monitor
