"""Seeded stationary streams with serial dependence and seasonality, for tests and benchmarks.

No class here contains a change: every alert a detector raises on one is a false alarm. Each
class (:data:`CLASSES`) is a named recipe over one region dimension (four values) and a few
features, in events shaped like :mod:`detector.testing.synthetic`'s, so :meth:`~DependentStream.
config` monitors them all. Events arrive at a fixed rate: ``events_per_period`` events span one
day (86,400 s) of event time. A stream is one realization per seed: :meth:`~DependentStream.
training` covers its first periods, :meth:`~DependentStream.live` continues it at later times.

>>> stream = DependentStream("ar1_cycle", seed=1, events_per_period=1000)
>>> live = stream.live(500, periods=2)
>>> event = next(live.events())
>>> sorted(event), event["ts"], sorted(event["features"])
(['event_id', 'features', 'prediction', 'segment', 'ts'], '2026-01-03T00:00:00.000Z', ['x', 'y'])
>>> np.array_equal(stream.stretch(0, 2500).numeric["x"][2000:], live.numeric["x"])
True
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from scipy.signal import fftconvolve, lfilter
from scipy.special import gammaincinv, ndtr

from detector.alerts import rfc3339
from detector.columns import Categories
from detector.events import EventBatch
from detector.testing.synthetic import START_TIME, SyntheticStream, config_dict

DAY = 86_400.0
REGIONS = ["eu", "us", "apac", "latam"]
REGION_SHARES = np.array([0.4, 0.3, 0.2, 0.1])
TIMEZONES = np.array([1.0, -6.0, 8.0, -4.0])  # hours from UTC: where each region's day peaks
KINDS = {"a": 0.4, "b": 0.25, "c": 0.15, "d": 0.12, "e": 0.08}
DEVICES = {"ios": 0.45, "android": 0.4, "web": 0.15}
LONG_MEMORY_LAGS = 16_384  # MA(inf) weights kept for fractional noise


@dataclass
class Stretch:
    """Events ``start`` to ``start + len(times)`` of one realization, as columns.

    Categorical columns are codes into ``labels``; ``missing`` marks absent features.
    """

    stream: DependentStream
    start: int
    times: np.ndarray
    regions: np.ndarray  # codes into REGIONS
    numeric: dict[str, np.ndarray]
    categorical: dict[str, np.ndarray]
    labels: dict[str, list[str]]
    missing: dict[str, np.ndarray]
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.times)

    def events(self) -> Iterator[dict[str, Any]]:
        """The events in order, as JSON-ready objects (absent features left out)."""
        columns = {name: values.tolist() for name, values in self.numeric.items()}
        for name, codes in self.categorical.items():
            columns[name] = np.asarray(self.labels[name], dtype=object)[codes].tolist()
        absent = {name: mask.tolist() for name, mask in self.missing.items() if mask.any()}
        regions, score = np.asarray(REGIONS)[self.regions].tolist(), self.score.tolist()
        prefix = f"{self.stream.kind}-{self.stream.seed}-"
        for i, time in enumerate(self.times.tolist()):
            features = {name: values[i] for name, values in columns.items()}
            for name, mask in absent.items():
                if mask[i]:
                    del features[name]
            yield {
                "event_id": f"{prefix}{self.start + i}",
                "ts": rfc3339(time),
                "segment": {"region": regions[i]},
                "features": features,
                "prediction": {"score": score[i]},
            }

    def lines(self) -> Iterator[bytes]:
        """The events as JSON lines (what ``replay`` and ``baseline`` read), without newlines."""
        return map(orjson.dumps, self.events())

    def batches(self, size: int = 5000) -> Iterator[EventBatch]:
        """Decoded micro-batches, skipping JSON (as ``synthetic.event_batches``; no schema
        samples)."""
        for lo in range(0, len(self), size):
            part = slice(lo, min(lo + size, len(self)))
            numeric = {
                name: np.where(self.missing[name][part], np.nan, values[part].astype(float))
                for name, values in self.numeric.items()
            }
            categorical = {
                name: Categories(
                    np.where(self.missing[name][part], -1, codes[part]).astype(np.int32),
                    list(self.labels[name]),
                )
                for name, codes in self.categorical.items()
            }
            count = part.stop - part.start
            yield EventBatch(
                positions=list(range(count)),
                times=self.times[part],
                ids=[None] * count,
                segments={"region": Categories(self.regions[part].astype(np.int32), REGIONS)},
                numeric=numeric,
                type_errors={name: np.zeros(count, bool) for name in self.missing},
                categorical=categorical,
            )


@dataclass
class _Draws:
    """Prefix-stable named draws for events ``0..n-1``: a longer realization begins with a
    shorter one (each name has its own generator, consumed in event order)."""

    stream: DependentStream
    n: int
    day: np.ndarray = field(init=False)  # phase of the day, radians
    categorical: dict[str, tuple[np.ndarray, list[str]]] = field(default_factory=dict)
    missing: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.day = 2 * np.pi * np.arange(self.n) / self.stream.events_per_period

    def rng(self, name: str) -> np.random.Generator:
        key = zlib.crc32(f"{self.stream.kind}/{name}".encode())
        return np.random.default_rng([self.stream.seed, key])

    def normal(self, name: str, extra: int = 0) -> np.ndarray:
        return self.rng(name).standard_normal(self.n + extra)

    def ar1(self, name: str, phi: float) -> np.ndarray:
        """Unit-variance AR(1), stationary from event 0."""
        noise = self.normal(name, extra=1)
        out, _ = lfilter([np.sqrt(1 - phi**2)], [1.0, -phi], noise[1:], zi=[phi * noise[0]])
        return np.asarray(out)

    def fractional(self, name: str, d: float) -> np.ndarray:
        """Unit-variance ARFIMA(0, d, 0) (Hurst exponent d + 1/2), truncated MA(inf)."""
        k = np.arange(1, LONG_MEMORY_LAGS)
        weights = np.concatenate([[1.0], np.cumprod((k - 1 + d) / k)])
        noise = self.normal(name, extra=LONG_MEMORY_LAGS)
        out = fftconvolve(noise, weights)[LONG_MEMORY_LAGS : LONG_MEMORY_LAGS + self.n]
        return np.asarray(out / np.sqrt(np.sum(weights**2)))

    def pick(self, name: str, shares: dict[str, float], weights: np.ndarray | None = None) -> None:
        """A categorical feature: fixed ``shares``, or per-event ``weights`` (n x categories)."""
        p = np.asarray(list(shares.values()))[None, :] if weights is None else weights
        cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        u = self.rng(name).random(self.n)
        codes = np.minimum((u[:, None] >= cdf).sum(axis=1), len(shares) - 1)
        self.categorical[name] = (codes, list(shares))

    def regions(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Region codes: fixed shares, or per-event ``weights`` (n x regions)."""
        self.pick("region", dict(zip(REGIONS, REGION_SHARES.tolist(), strict=True)), weights)
        return self.categorical.pop("region")[0]

    def lose(self, name: str, rate: np.ndarray) -> None:
        """``name`` is absent with probability ``rate`` (per event)."""
        self.missing[name] = self.rng(f"{name}/missing").random(self.n) < rate


Recipe = Callable[[_Draws], tuple[np.ndarray, dict[str, np.ndarray]]]  # regions, numeric


def _iid(d: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The control: independent draws, no cycle."""
    d.pick("kind", KINDS)
    return d.regions(), {"x": 10 + d.normal("x"), "y": 100 * np.exp(0.5 * d.normal("y"))}


def _ar1_cycle(d: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """AR(1) phi 0.5 plus a daily sine of ``amplitude`` sd."""
    a = d.stream.amplitude
    x = 10 + d.ar1("x", 0.5) + a * np.sin(d.day)
    y = 100 + 20 * (d.ar1("y", 0.5) + a * np.sin(d.day + 1.0))
    return d.regions(), {"x": x, "y": y}


def _ar1_cycles(d: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """AR(1) phi 0.5 plus a daily sine, one feature ``cNNN`` per amplitude (in hundredths sd)."""
    return d.regions(), {
        f"c{round(a * 100):03d}": 10 + d.ar1(f"c{i}", 0.5) + a * np.sin(d.day + i)
        for i, a in enumerate(d.stream.amplitudes)
    }


def _poisson_ar(d: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Poisson counts whose log-rate is AR(1) phi 0.9: mean 5 (log sd 0.25) and 0.5 (0.5)."""
    numeric = {}
    for name, mean, sd in (("count", 5.0, 0.25), ("rare", 0.5, 0.5)):
        rate = mean * np.exp(sd * d.ar1(f"{name}/rate", 0.9) - sd**2 / 2)
        numeric[name] = d.rng(name).poisson(rate)
    return d.regions(), numeric


def _dirichlet_shares(d: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Category shares that wander around fixed means: every 100 events the shares move 5% of
    the way to a Dirichlet draw of concentration 50 (an AR(1) of the shares, burnt in)."""
    for name, shares in (("kind", KINDS), ("device", DEVICES)):
        base, burn, block, pull = np.asarray(list(shares.values())), 200, 100, 0.05
        draws = d.rng(f"{name}/shares").dirichlet(50 * base, size=burn + d.n // block + 1)
        walk, _ = lfilter([pull], [1.0, pull - 1], draws, axis=0, zi=[(1 - pull) * base])
        d.pick(name, shares, walk[burn:][np.arange(d.n) // block])
    return d.regions(), {}


def _ar1_skewed(d: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """AR(1) phi 0.9 through skewed marginals: lognormal ``amount``, gamma(2) ``wait``."""
    wait = 30 * gammaincinv(2.0, ndtr(d.ar1("wait", 0.9)))
    return d.regions(), {"amount": 20 * np.exp(0.6 * d.ar1("amount", 0.9)), "wait": wait}


def _segment_cycles(d: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A daily cycle per region, peaking at local noon, of 0, 0.25, 0.5 and 1 sd by region;
    ``x`` independent noise, ``y`` AR(1) phi 0.5."""
    regions = d.regions()
    local = d.day + 2 * np.pi * TIMEZONES[regions] / 24
    cycle = np.array([0.0, 0.25, 0.5, 1.0])[regions] * np.sin(local)
    return regions, {"x": 10 + d.normal("x") + cycle, "y": 10 + d.ar1("y", 0.5) + cycle}


def _timezone_mix(d: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Region shares follow the time of day (each region busiest at its local 2 pm) and the
    regions' levels differ: every region is i.i.d., the all-traffic mix is seasonal."""
    hours = (14.0 - TIMEZONES) / 24
    weights = REGION_SHARES * (1 + 0.8 * np.cos(d.day[:, None] - 2 * np.pi * hours))
    regions = d.regions(weights)
    level = np.array([0.0, 0.5, -0.5, 1.0])[regions]
    x, y = 10 + level + d.normal("x"), 50 * np.exp(0.3 * (level + d.normal("y")))
    return regions, {"x": x, "y": y}


def _long_memory(d: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Fractional noise of memory ``memory`` (d): ``x`` Gaussian, ``y`` lognormal."""
    m = d.stream.memory
    x, y = 10 + d.fractional("x", m), 20 * np.exp(0.5 * d.fractional("y", m))
    return d.regions(), {"x": x, "y": y}


def _missing_daily(d: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Missing rates that follow the time of day: ``x`` 1-9%, ``y`` 0.2-3.8%, ``kind`` 0.6-5.4%
    (independent values; ``y`` AR(1) phi 0.5)."""
    d.pick("kind", KINDS)
    d.lose("x", 0.05 * (1 + 0.8 * np.sin(d.day)))
    d.lose("y", 0.02 * (1 + 0.9 * np.sin(d.day + np.pi)))
    d.lose("kind", 0.03 * (1 + 0.8 * np.sin(d.day + np.pi / 2)))
    return d.regions(), {"x": 10 + d.normal("x"), "y": 10 + d.ar1("y", 0.5)}


def _weekly(d: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A week of days: ``x`` AR(1) phi 0.5 with a daily sine of ``amplitude`` sd and 0.4 sd more
    on days 6 and 7; ``y`` lognormal with a weekly sine of 0.3 sd (period: 7 days)."""
    weekend = (np.arange(d.n) // d.stream.events_per_period) % 7 >= 5
    x = 10 + d.ar1("x", 0.5) + d.stream.amplitude * np.sin(d.day) + 0.4 * weekend
    y = 100 * np.exp(0.3 * (d.normal("y") + 0.3 * np.sin(d.day / 7)))
    return d.regions(), {"x": x, "y": y}


CLASSES: dict[str, Recipe] = {
    "iid": _iid,
    "ar1_cycle": _ar1_cycle,
    "ar1_cycles": _ar1_cycles,
    "poisson_ar": _poisson_ar,
    "dirichlet_shares": _dirichlet_shares,
    "ar1_skewed": _ar1_skewed,
    "segment_cycles": _segment_cycles,
    "timezone_mix": _timezone_mix,
    "long_memory": _long_memory,
    "missing_daily": _missing_daily,
    "weekly": _weekly,
}
PERIOD_DAYS = {"weekly": 7}  # the longest cycle of a class, in days (default 1)


@dataclass(frozen=True)
class DependentStream:
    """One class of :data:`CLASSES`, seeded: the same arguments give the same events."""

    kind: str
    seed: int = 0
    events_per_period: int = 20_000  # events per day of event time
    amplitude: float = 0.25  # daily cycle in sd (ar1_cycle, weekly)
    amplitudes: tuple[float, ...] = (0.1, 0.25, 0.5)  # ar1_cycles, one feature each
    memory: float = 0.25  # fractional difference d of long_memory (Hurst exponent d + 1/2)

    def __post_init__(self) -> None:
        if self.kind not in CLASSES:
            raise ValueError(f"unknown stream class {self.kind!r}: one of {', '.join(CLASSES)}")

    @property
    def period(self) -> int:
        """Events in the class's longest cycle (a week for ``weekly``, else a day)."""
        return self.events_per_period * PERIOD_DAYS.get(self.kind, 1)

    def stretch(self, start: int, n: int) -> Stretch:
        """Events ``start`` to ``start + n`` (generates from event 0)."""
        draws = _Draws(self, start + n)
        regions, numeric = CLASSES[self.kind](draws)
        part = slice(start, start + n)
        missing = {name: np.zeros(n, bool) for name in [*numeric, *draws.categorical]}
        missing.update({name: mask[part] for name, mask in draws.missing.items()})
        millis = np.round(np.arange(start, start + n) * (DAY * 1000 / self.events_per_period))
        return Stretch(
            stream=self,
            start=start,
            times=START_TIME + millis / 1000,
            regions=regions[part],
            numeric={name: values[part] for name, values in numeric.items()},
            categorical={name: codes[part] for name, (codes, _) in draws.categorical.items()},
            labels={name: labels for name, (_, labels) in draws.categorical.items()},
            missing=missing,
            score=1 / (1 + np.exp(-draws.normal("score")[part])),
        )

    def training(self, periods: float = 2) -> Stretch:
        """The first ``periods`` cycles: training data for a baseline."""
        return self.stretch(0, round(periods * self.period))

    def live(self, n: int, periods: float = 2) -> Stretch:
        """``n`` events continuing :meth:`training` of ``periods`` cycles."""
        return self.stretch(round(periods * self.period), n)

    def config(self, model: str | None = None) -> dict[str, Any]:
        """A config (as parsed YAML) monitoring every feature, segmented by region."""
        sample = self.stretch(0, 1)
        shell = SyntheticStream(
            numeric=list(sample.numeric),
            categorical={name: {} for name in sample.categorical},
            segments={"region": list(REGIONS)},
        )
        return config_dict(shell, model=model or self.kind)
