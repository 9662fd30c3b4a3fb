"""Correlation-only drift: the pairwise Fisher test of detector.multivariate against NannyML's
method (PCA reconstruction error with a mean +- 3 sd band over reference chunks).

Both see normal scores (the copula values of detector.testing.joint.JointStream: four features,
two correlated pairs). For each change of the amount-latency correlation (0.6 to RHO from row
--change-at on) it prints the windows until each method first fires, and over a stationary
stream the windows that fire (false alarms) per method.

    .venv/bin/python bench/multivariate.py                  # 2,000 stationary windows of 500
    .venv/bin/python bench/multivariate.py --windows 400    # quicker
"""

from __future__ import annotations

import argparse

import numpy as np

from detector.multivariate import (
    CorrelationReference,
    CorrelationWindow,
    correlation_test,
    pair_level,
)
from detector.testing.joint import FEATURES, CorrelationChange, JointStream


def _z(stream: JointStream, n: int, changes: list[CorrelationChange], extra: int) -> np.ndarray:
    """The stream's four copula columns, then ``extra`` independent ones (more features that
    do not move, as a model with 20 inputs would have)."""
    cols = stream.columns(n, changes)
    noise = np.random.default_rng(stream.seed + 1000).standard_normal((n, extra))
    return np.column_stack([*(cols[f"z.{f}"] for f in FEATURES), noise])


class Pca:
    """NannyML's data reconstruction drift: PCA keeping 65% of the variance, the mean
    Euclidean reconstruction error per chunk, alarms outside mean +- 3 sd of reference chunks."""

    def __init__(self, reference: np.ndarray, window: int) -> None:
        self.mean, self.std = reference.mean(0), reference.std(0)
        x = (reference - self.mean) / self.std
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        share = np.cumsum(s**2) / np.sum(s**2)
        self.components = vt[: int(np.searchsorted(share, 0.65)) + 1]
        errors = [self.error(reference[i : i + window]) for i in range(0, len(x), window)]
        self.low = float(np.mean(errors) - 3 * np.std(errors))
        self.high = float(np.mean(errors) + 3 * np.std(errors))

    def error(self, rows: np.ndarray) -> float:
        x = (rows - self.mean) / self.std
        back = x @ self.components.T @ self.components
        return float(np.linalg.norm(x - back, axis=1).mean())

    def fires(self, rows: np.ndarray) -> bool:
        return not self.low <= self.error(rows) <= self.high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--windows", type=int, default=2000, help="stationary windows")
    parser.add_argument("--alpha", type=float, default=1e-6, help="the window test's level")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--extra", type=int, default=16, help="independent features added")
    args = parser.parse_args()
    w, extra = args.window, args.extra
    names = (*FEATURES, *(f"x{i}" for i in range(extra)))
    reference = _z(JointStream(seed=args.seed), 50_000, [], extra)
    fisher_ref = CorrelationReference.from_scores(names, reference)
    level = pair_level(args.alpha, len(names))
    pca = Pca(reference, w)

    def fisher_fires(rows: np.ndarray) -> bool:
        window = CorrelationWindow(len(names))
        window.add(rows)
        result = correlation_test(window, fisher_ref, level)
        return result.statistic > result.threshold

    live = _z(JointStream(seed=args.seed + 1), args.windows * w, [], extra)
    chunks = [live[i : i + w] for i in range(0, len(live), w)]
    print(f"stationary: {len(chunks)} windows of {w}; alpha {args.alpha:g} (|z| > {level:.2f})")
    fisher, pca_alarms = sum(map(fisher_fires, chunks)), sum(map(pca.fires, chunks))
    print(f"  {len(names)} features; false alarms: fisher {fisher}, pca {pca_alarms}")
    for rho in (0.5, 0.4, 0.3, 0.0, -0.6):
        change = [CorrelationChange(0, ("amount", "latency"), rho)]
        rows = _z(JointStream(seed=args.seed + 2), 200 * w, change, extra)
        after = [rows[i : i + w] for i in range(0, len(rows), w)]
        delay = {
            name: next((k + 1 for k, chunk in enumerate(after) if fires(chunk)), None)
            for name, fires in (("fisher", fisher_fires), ("pca", pca.fires))
        }
        print(f"  rho 0.6 -> {rho:+.1f}: windows to detect: {delay} (of at most 200)")


if __name__ == "__main__":
    main()
