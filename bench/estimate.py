"""Estimated performance (CBPE, DLE) on seeded streams: tracking error, delay, false alarms.

For each kind (binary, 3-class, regression) and seed, a baseline is built by
:meth:`detector.Monitor.baseline_from` from 50,000 labelled training rows of another seed,
then the live stream (no labels) goes through :class:`detector.Monitor`:

- **tracking**: a covariate shift at event 30,000 of 60,000; per 1,000-prediction window of
  all traffic, |estimated - realised| (realised from the generator's labels), and the mean
  signed gap after the shift (bias);
- **delay**: predictions after the shift until the all-traffic alert (cbpe or dle);
- **false alarms**: estimated-performance alerts on ``--stationary`` stationary events, over
  all windows tested (all traffic and each country).

Reports only; nothing is asserted (tests/labels/test_estimate.py asserts the bounds).

    .venv/bin/python bench/estimate.py --seeds 5 --stationary 1000000
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--stationary", type=int, default=200_000)
    args = parser.parse_args()
    print(
        "| kind | mean abs gap | p95 gap | bias after shift | delay (predictions) | FA / windows |"
    )
    print("|---|---|---|---|---|---|")
    for r in measure(args.seeds, args.stationary):
        print(
            f"| {r['kind']} | {r['mean_gap']:.4f} | {r['p95_gap']:.4f} | {r['bias_after']:+.4f} "
            f"| {', '.join(str(d) for d in r['delays'])} | {r['false_alarms']} / "
            f"{r['windows']:,} |"
        )


if __name__ == "__main__":
    main()
