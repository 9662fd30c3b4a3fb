"""Drift detection from Python, in notebook cells (``# %%``: VS Code, PyCharm and Jupytext open
them as a notebook). Baseline from a training frame, a drifting batch, its alerts, the report.

Run it as a script: ``python examples/quickstart.py`` (writes ``drift_report.html``). pandas is
optional: without it, the frames below are lists of dicts, which ``Monitor`` takes as well.
"""

# %% A model's events: a transaction amount, a merchant code, a country, the model's score.
from typing import Any

import numpy as np

from detector import Monitor

try:
    import pandas as pd
except ImportError:  # pandas is optional
    pd = None


def events(n: int, start: int, rng: np.random.Generator, de_shift: float = 0.0) -> Any:
    """``n`` events; amounts in country DE shifted by ``de_shift`` standard deviations."""
    country = rng.choice(["DE", "FR", "US"], n)
    amount = rng.normal(100.0, 20.0, n) + (country == "DE") * de_shift * 20.0
    rows = [
        {
            "event_id": f"e-{start + i}",
            "ts": 1_767_225_600.0 + (start + i) * 0.01,  # epoch seconds
            "segment": {"country": str(country[i])},
            "features": {"amount": float(amount[i]), "mcc": str(rng.choice(["5411", "5812"]))},
            "prediction": {"score": float(rng.random())},
        }
        for i in range(n)
    ]
    if pd is not None:
        return pd.json_normalize(rows)  # columns named by the nested paths: features.amount
    return rows


rng = np.random.default_rng(42)
training = events(20_000, 0, rng)

# %% The config: what to read from each event. No Kafka topics needed outside `run`.
config = {
    "model": "fraud",
    "event": {"id": "event_id", "time": "ts"},
    "segments": [{"name": "country", "path": "segment.country"}],
    "features": [
        {"name": "amount", "path": "features.amount", "type": "numeric"},
        {"name": "mcc", "path": "features.mcc", "type": "categorical"},
    ],
    "prediction": {"path": "prediction.score", "type": "numeric"},
}

# %% The baseline: what the training data looked like, per feature and per segment.
baseline = Monitor.baseline_from(config, training)
monitor = Monitor(config, baseline=baseline)

# %% Live traffic: normal at first, then amounts in DE move up by one standard deviation.
print("alerts on normal traffic:", len(monitor.process(events(10_000, 20_000, rng))))
alerts = monitor.process(events(10_000, 30_000, rng, de_shift=1.0))
for alert in alerts:
    data = alert["data"]
    print(data["status"], data["severity"], data["summary"])

# %% The counts, and the drift report (in a notebook, `monitor.report()` shows inline).
print(monitor.summary())
report = monitor.report()
print("wrote", report.save("drift_report.html"))
