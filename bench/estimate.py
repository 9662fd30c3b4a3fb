"""Estimated performance (CBPE, DLE) on seeded streams: tracking error, delay, false alarms.

For each kind (binary, 3-class, regression) and seed, a baseline is built by
:meth:`detector.Monitor.baseline_from` from 50,000 labelled training rows of another seed,
then the live stream (no labels) goes through :class:`detector.Monitor`:

- **tracking**: a covariate shift at event 30,000 of 60,000; per 1,000-prediction window of
  all traffic, |estimated - realised| (realised from the generator's labels), and the mean
  signed gap after the shift (bias);
- **delay**: predictions after the shift until the all-traffic alert (cbpe or dle);
- **false alarms**: estimated-performance alerts on ``--stationary`` stationary events, over
  all windows tested (all traffic and each country);
- **3-class macro metrics**: ``ClassStream`` with every class's probability
  (``prediction.probabilities``) and its labels supplied, the same shift; per window of all
  traffic, |estimated - realised| macro F1 and macro one-vs-rest ROC AUC (realised: the
  monitor's own windows of joined labels). ``--macro-only`` prints only this table.

Reports only; nothing is asserted (tests/labels/test_estimate.py asserts the bounds).

    .venv/bin/python bench/estimate.py --seeds 5 --stationary 1000000
    .venv/bin/python bench/estimate.py --seeds 5 --macro-only
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from detector import Monitor
from detector.testing.estimated import ClassStream, RegressionStream, Shift
from detector.testing.joint import CovariateShift, JointStream

N, START, WINDOW, TRAINING = 60_000, 30_000, 1000, 50_000


def _kinds() -> dict[str, tuple[Any, list[Any], str]]:
    return {
        "binary (cbpe)": (JointStream, [CovariateShift(START, "amount", shrink=0.3)], "accuracy"),
        "3-class (cbpe)": (ClassStream, [Shift(START, shrink=0.6)], "accuracy"),
        "regression (dle)": (RegressionStream, [Shift(START, shift=1.0)], "mae"),
    }


def _realised(cols: dict[str, np.ndarray], metric: str) -> np.ndarray:
    if metric == "mae":
        per_event = np.abs(cols["label"] - cols["predicted"])
    else:
        per_event = (cols["label"] == cols["predicted"]).astype(float)
    return per_event.reshape(-1, WINDOW).mean(axis=1)


def measure(seeds: int, stationary: int) -> list[dict[str, Any]]:
    rows = []
    for kind, (stream_class, shift, metric) in _kinds().items():
        gaps, biases, delays, alarms, windows = [], [], [], 0, 0
        for seed in range(1, seeds + 1):
            stream = stream_class(seed=seed)
            config = stream.config()
            training = stream_class(seed=1000 + seed).training(TRAINING)
            baseline = Monitor.baseline_from(config, training)
            monitor = Monitor(config, baseline)
            alerts = monitor.process(stream.events(N, shift))
            first = [
                a["data"]["series_events"]
                for a in alerts
                if a["data"]["feature"] == "estimated_performance" and not a["data"]["segment"]
            ]
            delays.append(first[0] - START if first else None)
            performance = monitor.engine.performance
            assert performance is not None
            history = performance.estimates[(None, None)].history
            estimate = np.array([m[metric] for _, m in history])
            realised = _realised(stream.columns(N, shift), metric)
            gaps += np.abs(estimate - realised).tolist()
            biases.append(float(np.mean(estimate[30:] - realised[30:])))
            quiet = Monitor(config, baseline)
            found = quiet.process(stream_class(seed=500 + seed).events(stationary))
            alarms += sum(a["data"]["feature"] == "estimated_performance" for a in found)
            assert quiet.engine.performance is not None
            windows += sum(
                s.predictions // WINDOW for s in quiet.engine.performance.estimates.values()
            )
        rows.append(
            {
                "kind": kind,
                "mean_gap": float(np.mean(gaps)),
                "p95_gap": float(np.quantile(gaps, 0.95)),
                "bias_after": float(np.mean(biases)),
                "delays": delays,
                "false_alarms": alarms,
                "windows": windows,
            }
        )
    return rows


def measure_macro(seeds: int) -> list[dict[str, Any]]:
    """Per metric: the mean, p95 and largest |estimated - realised| per window, and the mean
    signed gap after the shift, over ``seeds`` seeds of the 3-class stream with probabilities."""
    shift = [Shift(START, shrink=0.6)]
    gaps: dict[str, list[float]] = {"f1": [], "roc_auc": []}
    biases: dict[str, list[float]] = {"f1": [], "roc_auc": []}
    levels: dict[str, list[tuple[float, float]]] = {"f1": [], "roc_auc": []}
    for seed in range(1, seeds + 1):
        stream = ClassStream(seed=seed, probabilities=True)
        config = stream.config()
        training = ClassStream(seed=1000 + seed, probabilities=True).training(TRAINING)
        monitor = Monitor(config, Monitor.baseline_from(config, training))
        monitor.process(stream.events(N, shift), labels=stream.labels(N, shift))
        performance = monitor.engine.performance
        assert performance is not None
        estimated = [m for _, m in performance.estimates[(None, None)].history]
        realised = [m for _, m in performance.series[(None, None)].history]
        for metric in gaps:
            e = np.array([m[metric] for m in estimated])
            r = np.array([m[metric] for m in realised])
            gaps[metric] += np.abs(e - r).tolist()
            biases[metric].append(float(np.mean(e[30:] - r[30:])))
            levels[metric].append((float(r[:30].mean()), float(r[30:].mean())))
    return [
        {
            "metric": metric,
            "before": float(np.mean([b for b, _ in levels[metric]])),
            "after": float(np.mean([a for _, a in levels[metric]])),
            "mean_gap": float(np.mean(gaps[metric])),
            "p95_gap": float(np.quantile(gaps[metric], 0.95)),
            "max_gap": float(np.max(gaps[metric])),
            "bias_after": float(np.mean(biases[metric])),
        }
        for metric in gaps
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--stationary", type=int, default=200_000)
    parser.add_argument("--macro-only", action="store_true", help="only the 3-class macro table")
    args = parser.parse_args()
    if not args.macro_only:
        table(args.seeds, args.stationary)
        print()
    print("| 3-class, macro | realised before -> after | mean abs gap | p95 gap | max gap | bias |")
    print("|---|---|---|---|---|---|")
    for r in measure_macro(args.seeds):
        print(
            f"| {r['metric']} | {r['before']:.3f} -> {r['after']:.3f} | {r['mean_gap']:.4f} | "
            f"{r['p95_gap']:.4f} | {r['max_gap']:.4f} | {r['bias_after']:+.4f} |"
        )


def table(seeds: int, stationary: int) -> None:
    """The tracking, delay and false-alarm table of every kind."""
    print(
        "| kind | mean abs gap | p95 gap | bias after shift | delay (predictions) | FA / windows |"
    )
    print("|---|---|---|---|---|---|")
    for r in measure(seeds, stationary):
        print(
            f"| {r['kind']} | {r['mean_gap']:.4f} | {r['p95_gap']:.4f} | {r['bias_after']:+.4f} "
            f"| {', '.join(str(d) for d in r['delays'])} | {r['false_alarms']} / "
            f"{r['windows']:,} |"
        )


if __name__ == "__main__":
    main()
