"""False alarms on dependent and seasonal stationary streams (issue 15), and detection delays.

For each class of :mod:`detector.testing.dependent` the live stream goes through
:func:`detector.replay.replay` (what ``drift-detector replay`` runs) twice: against a baseline
that ``drift-detector baseline`` built from the training stretch just before it (``--periods``
cycles), and without one (warm-up references). Every firing alert counts: on these streams none
is a true detection. ``--inject`` instead injects known changes into the live stream and prints
how many of the affected series' events each took to alert. Reports only; nothing is asserted.

    .venv/bin/python bench/false_alarms.py --events 1000000 --classes all --seed 1
    .venv/bin/python bench/false_alarms.py --inject --classes ar1_cycle,iid --json out.json

From Python: :func:`false_alarms` and :func:`power` return rows, :func:`table` and
:func:`power_table` format them. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: make `bench` and `detector` importable
    sys.path.insert(0, str(REPO))

from detector import cli  # noqa: E402
from detector.alerts import AlertData, AlertEvent, segment_label  # noqa: E402
from detector.config import load_config  # noqa: E402
from detector.events import parse_time  # noqa: E402
from detector.replay import replay  # noqa: E402
from detector.testing.dependent import CLASSES, DependentStream, Stretch  # noqa: E402

MODES = ("baseline", "warmup")
CHANGES = {  # name: (kind, size): training sds, variance factor, share or missing rate
    "shift_1sd": ("mean", 1.0),
    "shift_0.25sd": ("mean", 0.25),
    "variance_x2": ("scale", 2.0),
    "new_category": ("category", 0.1),
    "missing_step": ("missing", 0.1),
}
CONTROL = "iid"


@dataclass
class Run:
    """One replay: its firing alerts, and what they are counted against."""

    kind: str
    mode: str
    events: int
    series: int
    alerts: list[AlertData]  # firing only: each is a page
    first_period_end: float  # event time one period into the live stream (inf: shorter)
    first_period_events: int
    budget: float  # the config's alerts per 10M events per model


@dataclass
class Row:
    """False alarms of one class in one mode."""

    kind: str
    mode: str
    events: int
    series: int
    alerts: int
    per_1m_series: float
    per_1m_model: float
    after_first_period: int  # alerts from one period into the live stream on
    after_first_period_per_1m_model: float
    budget_per_1m_model: float
    detectors: dict[str, int] = field(default_factory=dict)  # drift alerts by data.detector
    checks: dict[str, int] = field(default_factory=dict)  # quality alerts by data.check
    features: dict[str, int] = field(default_factory=dict)
    by_series: dict[str, int] = field(default_factory=dict)  # "feature/segment"


@dataclass
class PowerRow:
    """A change injected into all traffic: the feature's all-traffic series' first alert."""

    kind: str
    mode: str
    change: str
    feature: str
    at: int  # live event index of the change
    delay: int | None  # that series' events from the change to its first firing alert
    detector: str | None  # data.check for quality alerts, else data.detector
    firing_before: list[str]  # what fired on that series before the change (false alarms)
    false_before: int  # firing alerts of any series before the change
    iid_delay: int | None = None  # the same change on the i.i.d. control


def write_config(
    stream: DependentStream, directory: Path, baseline: Path | None, overrides: dict[str, Any]
) -> Path:
    """The class's config file (JSON is YAML), with ``overrides`` (dotted keys) applied."""
    document = stream.config()
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = document
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    if baseline is not None:
        document["baseline"] = str(baseline)
    path = directory / ("live.yaml" if baseline else "config.yaml")
    path.write_bytes(orjson.dumps(document))
    return path


def build_baseline(
    stream: DependentStream, periods: float, directory: Path, overrides: dict[str, Any]
) -> Path:
    """``drift-detector baseline`` (the CLI, in process) on the first ``periods`` cycles."""
    train, out = directory / "train.jsonl", directory / "baseline.json"
    with train.open("wb") as file:
        file.writelines(line + b"\n" for line in stream.training(periods).lines())
    config = write_config(stream, directory, None, overrides)
    argv = ["--log-level", "WARNING", "baseline", "--config", str(config), "--input", str(train)]
    with contextlib.redirect_stderr(io.StringIO()) as err:
        status = cli.main([*argv, "--out", str(out)])
    if status:
        raise RuntimeError(f"drift-detector baseline failed ({status}): {err.getvalue()}")
    return out


def run_stream(
    live: Stretch,
    mode: str,
    periods: float = 2,
    overrides: dict[str, Any] | None = None,
    lines: Iterable[bytes] | None = None,
) -> Run:
    """Replay ``live`` (or its ``lines``) against a baseline of the ``periods`` cycles of
    training before ``live.start`` (``mode`` "baseline"), or with warm-up references."""
    if mode not in MODES:
        raise ValueError(f"mode: one of {MODES}")
    stream, overrides = live.stream, overrides or {}
    with tempfile.TemporaryDirectory(prefix="false-alarms-") as tmp:
        directory = Path(tmp)
        baseline = (
            build_baseline(stream, periods, directory, overrides) if mode == MODES[0] else None
        )
        config = load_config(write_config(stream, directory, baseline, overrides))
        alerts: list[AlertData] = []

        def keep(alert: AlertEvent) -> None:
            if alert.data.status == "firing":
                alerts.append(alert.data)

        report = replay(config, live.lines() if lines is None else lines, keep)
    first = min(stream.period, len(live))
    return Run(
        kind=stream.kind,
        mode=mode,
        events=report.records,
        series=report.series,
        alerts=alerts,
        first_period_end=float(live.times[first]) if first < len(live) else math.inf,
        first_period_events=first,
        budget=config.detection.false_alarms_per_10m_events,
    )


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(Counter(values).most_common())


def summarise(run: Run) -> Row:
    """A run's alerts per million events, per series and per model, and who raised them."""
    late = [a for a in run.alerts if (parse_time(a.observed_at) or 0.0) >= run.first_period_end]
    millions, late_millions = run.events / 1e6, max(run.events - run.first_period_events, 1) / 1e6
    return Row(
        kind=run.kind,
        mode=run.mode,
        events=run.events,
        series=run.series,
        alerts=len(run.alerts),
        per_1m_series=len(run.alerts) / millions / max(run.series, 1),
        per_1m_model=len(run.alerts) / millions,
        after_first_period=len(late),
        after_first_period_per_1m_model=len(late) / late_millions,
        budget_per_1m_model=run.budget / 10,
        detectors=_count(a.detector for a in run.alerts if a.kind != "quality"),
        checks=_count(a.check or a.detector for a in run.alerts if a.kind == "quality"),
        features=_count(a.feature for a in run.alerts),
        by_series=_count(f"{a.feature}/{segment_label(a.segment)}" for a in run.alerts),
    )


def false_alarms(
    kinds: Sequence[str],
    events: int,
    seed: int = 1,
    events_per_period: int = 20_000,
    periods: float = 2,
    modes: Sequence[str] = MODES,
    overrides: dict[str, Any] | None = None,
    progress: bool = False,
) -> list[Row]:
    """Each class's live stream of ``events`` events (after ``periods`` cycles of training),
    replayed in each mode; one row per class and mode."""
    rows = []
    for kind in kinds:
        stream = DependentStream(kind, seed=seed, events_per_period=events_per_period)
        live = stream.live(events, periods)
        lines = list(live.lines())  # generated once for every mode
        for mode in modes:
            started = time.monotonic()
            rows.append(summarise(run_stream(live, mode, periods, overrides, lines)))
            if progress:
                took = time.monotonic() - started
                print(f"  {kind} {mode}: {rows[-1].alerts} alerts ({took:.0f} s)", file=sys.stderr)
    return rows


def inject(live: Stretch, change: str, at: int, feature: str | None = None) -> tuple[Stretch, str]:
    """``live`` with ``change`` (:data:`CHANGES`) from live index ``at`` on, in all traffic, to
    ``feature`` (default: the first numeric feature; categorical for ``new_category``, and
    for ``missing_step`` when there is no numeric one). Shifts are in standard deviations of the
    training stretch before ``live``; ``variance_x2`` scales deviations from its mean (counts
    become real numbers). Returns the changed stretch and the feature."""
    kind, size = CHANGES[change]
    names = list(live.categorical if kind == "category" else live.numeric)
    if kind == "missing":
        names += list(live.categorical)
    if feature is None:
        if not names:
            raise ValueError(f"{live.stream.kind} has no feature for {change}")
        feature = names[0]
    after = np.arange(len(live)) >= at
    rng = np.random.default_rng([live.stream.seed, at, zlib.crc32(change.encode())])
    if kind == "category":
        codes = live.categorical[feature].copy()
        codes[after & (rng.random(len(live)) < size)] = len(live.labels[feature])
        labels = {**live.labels, feature: [*live.labels[feature], "new"]}
        changed = replace(live, categorical={**live.categorical, feature: codes}, labels=labels)
        return changed, feature
    if kind == "missing":
        missing = live.missing[feature] | (after & (rng.random(len(live)) < size))
        return replace(live, missing={**live.missing, feature: missing}), feature
    train = live.stream.stretch(0, live.start).numeric[feature].astype(float)
    values = live.numeric[feature].astype(float)
    if kind == "mean":
        values = values + after * size * train.std()
    else:
        values = np.where(after, train.mean() + (values - train.mean()) * math.sqrt(size), values)
    return replace(live, numeric={**live.numeric, feature: values}), feature


def _delay(run: Run, feature: str, at: int, change_time: float) -> PowerRow:
    mine = [a for a in run.alerts if a.feature == feature and not a.segment]
    before = [a for a in mine if (parse_time(a.observed_at) or 0.0) < change_time]
    after = [a for a in mine if (parse_time(a.observed_at) or 0.0) >= change_time]
    first = after[0] if after else None
    false_before = sum((parse_time(a.observed_at) or 0.0) < change_time for a in run.alerts)
    return PowerRow(
        kind=run.kind,
        mode=run.mode,
        change="",
        feature=feature,
        at=at,
        delay=None if first is None else first.series_events - at,
        detector=None if first is None else (first.check or first.detector),
        firing_before=sorted({a.check or a.detector for a in before}),
        false_before=false_before,
    )


def power(
    kinds: Sequence[str],
    changes: Sequence[str] = tuple(CHANGES),
    at: int | None = None,
    horizon: int = 20_000,
    seed: int = 1,
    events_per_period: int = 20_000,
    periods: float = 2,
    overrides: dict[str, Any] | None = None,
    progress: bool = False,
    modes: Sequence[str] = MODES[:1],
) -> list[PowerRow]:
    """Each applicable change injected at live index ``at`` (default: one period in) into
    each class, against a baseline of ``periods`` cycles (or in the other ``modes``), the i.i.d.
    control's delay beside (list ``iid`` among ``kinds`` to get it)."""
    rows: list[PowerRow] = []
    control: dict[tuple[str, str], int | None] = {}
    for kind in sorted(kinds, key=lambda k: k != CONTROL):  # the control first
        stream = DependentStream(kind, seed=seed, events_per_period=events_per_period)
        start = stream.period if at is None else at
        clean = stream.live(start + horizon, periods)
        for change in changes:
            try:
                live, feature = inject(clean, change, start)
            except ValueError:
                continue  # no feature of that type
            lines = list(live.lines())
            for mode in modes:
                run = run_stream(live, mode, periods, overrides, lines)
                row = _delay(run, feature, start, float(live.times[start]))
                row.change = change
                if kind == CONTROL:
                    control[mode, change] = row.delay
                row.iid_delay = control.get((mode, change))
                rows.append(row)
                if progress:
                    print(f"  {kind} {mode} {change}: delay {row.delay}", file=sys.stderr)
    return rows


def _fired(row: Row) -> str:
    parts = [f"{k} {v}" for k, v in row.detectors.items()]
    parts += [f"{k} {v}" for k, v in row.checks.items()]
    return ", ".join(parts) or "-"


def table(rows: Sequence[Row]) -> str:
    """One line per class and mode; rates per million events."""
    head = (
        f"{'class':<17} {'mode':<8} {'events':>9} {'series':>6} {'alerts':>6} "
        f"{'/1M/series':>10} {'/1M/model':>9} {'after 1st period /1M/model':>26}  fired"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.kind:<17} {r.mode:<8} {r.events:>9,} {r.series:>6} {r.alerts:>6} "
            f"{r.per_1m_series:>10.2f} {r.per_1m_model:>9.2f} "
            f"{r.after_first_period_per_1m_model:>26.2f}  {_fired(r)}"
        )
    if rows:
        lines.append(f"budget: {rows[0].budget_per_1m_model:g} alerts per 1M events per model")
    return "\n".join(lines)


def power_table(rows: Sequence[PowerRow]) -> str:
    """One line per class and injected change; delays in the all-traffic series' events."""
    head = (
        f"{'class':<17} {'mode':<8} {'change':<13} {'feature':<8} {'delay':>7} {'iid delay':>9} "
        f"{'ratio':>6}  {'first alert':<18} series' alerts before / all before"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = f"{r.delay / r.iid_delay:.2f}" if r.delay and r.iid_delay else "-"
        lines.append(
            f"{r.kind:<17} {r.mode:<8} {r.change:<13} {r.feature:<8} {_num(r.delay):>7} "
            f"{_num(r.iid_delay):>9} {ratio:>6}  {r.detector or 'missed':<18} "
            f"{','.join(r.firing_before) or '-'} / {r.false_before}"
        )
    return "\n".join(lines)


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _commit() -> str | None:
    """The measured code: ``git log -1`` and a digest of uncommitted changes to tracked files."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        git = ["git", "-C", str(REPO)]
        head = subprocess.run(
            [*git, "log", "-1", "--format=%h %s"], capture_output=True, check=True
        )
        diff = subprocess.run([*git, "diff", "HEAD"], capture_output=True, check=True).stdout
        text = head.stdout.decode().strip()
        return text + (f" + uncommitted diff {zlib.crc32(diff):08x}" if diff else "")
    return None


def _overrides(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        try:
            out[key] = orjson.loads(text)
        except orjson.JSONDecodeError:
            out[key] = text
    return out


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="live events per class (default 1000000)"
    )
    parser.add_argument(
        "--classes", default="all", help=f"comma-separated, or all: {', '.join(CLASSES)}"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of every stream (default 1)")
    parser.add_argument(
        "--period-events",
        type=int,
        default=20_000,
        help="events per day of event time (default 20000)",
    )
    parser.add_argument(
        "--periods",
        type=float,
        default=2,
        help="training cycles before the live stream (default 2)",
    )
    parser.add_argument(
        "--modes", help="baseline, warmup or both (default: both; with --inject: baseline)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, e.g. detection.window=1000 (VALUE read as JSON); repeatable",
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write the results as JSON (- = stdout)"
    )
    power_args = parser.add_argument_group("power check")
    power_args.add_argument(
        "--inject", action="store_true", help="inject changes and print detection delays instead"
    )
    power_args.add_argument(
        "--changes", default="all", help=f"comma-separated, or all: {', '.join(CHANGES)}"
    )
    power_args.add_argument("--at", type=int, help="live index of the change (default: 1 period)")
    power_args.add_argument(
        "--horizon", type=int, default=20_000, help="events run after the change (default 20000)"
    )
    args = parser.parse_args(argv)
    args.classes = list(CLASSES) if args.classes == "all" else args.classes.split(",")
    args.changes = list(CHANGES) if args.changes == "all" else args.changes.split(",")
    args.modes = (args.modes or ",".join(MODES[: 1 if args.inject else 2])).split(",")
    for name, chosen, known in (
        ("classes", args.classes, CLASSES),
        ("changes", args.changes, CHANGES),
        ("modes", args.modes, MODES),
    ):
        if unknown := [c for c in chosen if c not in known]:
            parser.error(f"--{name}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _args(argv)
    started = time.monotonic()
    common = {
        "seed": args.seed,
        "events_per_period": args.period_events,
        "periods": args.periods,
        "overrides": _overrides(args.set),
        "progress": True,
    }
    results: dict[str, Any] = {
        "commit": _commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {k: v for k, v in vars(args).items() if k != "json"},
    }
    if args.inject:
        power_rows = power(
            args.classes, args.changes, args.at, args.horizon, modes=args.modes, **common
        )
        results["power"] = [asdict(r) for r in power_rows]
        text = power_table(power_rows)
    else:
        rows = false_alarms(args.classes, args.events, modes=args.modes, **common)
        results["false_alarms"] = [asdict(r) for r in rows]
        text = table(rows)
    results["seconds"] = round(time.monotonic() - started, 1)
    if args.json == "-":
        sys.stdout.buffer.write(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
        print(text, file=sys.stderr)
    else:
        print(text)
        if args.json:
            Path(args.json).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
