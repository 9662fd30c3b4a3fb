"""The dependent and seasonal stationary streams keep their promises; the false-alarm bench runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
from scipy.stats import rankdata

from bench.false_alarms import inject, power, run_stream
from detector.alerts import AlertEvent
from detector.config import parse_config
from detector.engine import Engine
from detector.events import Decoder
from detector.replay import replay
from detector.testing.dependent import CLASSES, KINDS, DependentStream

REPO = Path(__file__).resolve().parents[2]


def lag1(x: np.ndarray) -> float:
    x = x - x.mean()
    return float((x[1:] * x[:-1]).mean() / (x * x).mean())


def inflation(x: np.ndarray, size: int = 500) -> float:
    """Variance of ``size``-event means over what independent values would give."""
    blocks = x[: len(x) // size * size].reshape(-1, size).mean(axis=1)
    return float(blocks.var() / (x.var() / size))


@pytest.mark.parametrize("kind", list(CLASSES))
def test_live_continues_training_and_decodes(kind: str) -> None:
    """Training then live is one realization (same values, times one event apart), and the
    events decode with the class's config, without rejections."""
    stream = DependentStream(kind, seed=5, events_per_period=400)
    whole, live = stream.stretch(0, 2 * stream.period + 300), stream.live(300)
    cut = 2 * stream.period
    for name, values in live.numeric.items():
        np.testing.assert_allclose(whole.numeric[name][cut:], values, rtol=1e-12)
    for name, codes in live.categorical.items():
        assert np.array_equal(whole.categorical[name][cut:], codes)
    assert np.array_equal(whole.regions[cut:], live.regions)
    assert live.times[0] - stream.training().times[-1] == pytest.approx(86_400 / 400)
    decoded = Decoder(parse_config(stream.config())).decode(list(live.lines()), [0.0] * 300)
    assert not decoded.rejections and decoded.batch.size == 300


def test_ar1_cycle_lag1_and_phase_means() -> None:
    """AR(1) phi 0.5 shows lag-1 about 0.5; the daily sine (0.25 sd) shows in phase means."""
    stream = DependentStream("ar1_cycle", seed=3, events_per_period=5000).stretch(0, 200_000)
    x = stream.numeric["x"]
    assert lag1(x) == pytest.approx(0.5, abs=0.04)
    phase = (np.arange(len(x)) % 5000) // 625  # eighths of the day
    means = np.array([x[phase == i].mean() for i in range(8)]) - x.mean()
    expected = 0.25 * np.sin(2 * np.pi * (np.arange(8) + 0.5) / 8)
    assert np.corrcoef(means, expected)[0, 1] > 0.95
    assert np.abs(means - expected).max() < 0.08


def test_poisson_counts_hide_their_dependence_from_lag1() -> None:
    """Integer counts; lag-1 about 0.2, yet 500-event means vary 4-7x more than i.i.d. ones."""
    count = DependentStream("poisson_ar", seed=3).stretch(0, 400_000).numeric["count"]
    assert count.dtype.kind == "i" and count.min() >= 0
    assert count.mean() == pytest.approx(5.0, rel=0.02)
    assert 0.15 < lag1(count.astype(float)) < 0.3
    assert 4.0 < inflation(count.astype(float)) < 7.0


def test_dirichlet_shares_wander_around_fixed_means() -> None:
    """Each half's shares are the fixed means (within 0.01); 500-event shares vary more than
    multinomial draws would."""
    kind = DependentStream("dirichlet_shares", seed=3).stretch(0, 400_000).categorical["kind"]
    for half in (kind[:200_000], kind[200_000:]):
        shares = np.bincount(half, minlength=len(KINDS)) / len(half)
        np.testing.assert_allclose(shares, list(KINDS.values()), atol=0.01)
    assert inflation((kind == 0).astype(float)) > 1.1


def test_skewed_and_long_memory_streams() -> None:
    """ar1_skewed: skewed, rank lag-1 near 0.9. long_memory: block-mean inflation grows with
    the block size, as under long memory (AR(1) would level off)."""
    skewed = DependentStream("ar1_skewed", seed=3).stretch(0, 100_000).numeric["amount"]
    assert np.mean(skewed) > np.median(skewed) * 1.1
    assert lag1(rankdata(skewed)) == pytest.approx(0.89, abs=0.03)
    x = DependentStream("long_memory", seed=3).stretch(0, 400_000).numeric["x"]
    assert 2 * inflation(x, 50) < inflation(x, 500) < inflation(x, 5000) / 1.5


def test_time_of_day_streams() -> None:
    """missing_daily's rate, timezone_mix's region shares and segment_cycles' per-region
    amplitudes follow the day; weekly adds 0.4 sd on days 6 and 7."""
    period, n = 4000, 160_000
    quarter = (np.arange(n) % period) // (period // 4)
    missing = DependentStream("missing_daily", seed=3, events_per_period=period).stretch(0, n)
    rates = [missing.missing["x"][quarter == q].mean() for q in range(4)]
    assert min(rates[:2]) > 0.06 and max(rates[2:]) < 0.04
    mix = DependentStream("timezone_mix", seed=3, events_per_period=period).stretch(0, n)
    eu = [(mix.regions[quarter == q] == 0).mean() for q in range(4)]
    assert max(eu) - min(eu) > 0.2
    cycles = DependentStream("segment_cycles", seed=3, events_per_period=period).stretch(0, n)
    x = cycles.numeric["x"]
    spread = [
        np.ptp([x[(cycles.regions == r) & (quarter == q)].mean() for q in range(4)])
        for r in range(4)
    ]
    assert spread[0] < 0.1 < spread[1] < spread[2] < spread[3]
    weekly = DependentStream("weekly", seed=3, events_per_period=1000).stretch(0, 140_000)
    day = (np.arange(140_000) // 1000) % 7
    x = weekly.numeric["x"]
    assert x[day >= 5].mean() - x[day < 5].mean() == pytest.approx(0.4, abs=0.05)


def test_bench_counts_what_replay_alerts(tmp_path: Path) -> None:
    """On a stream with a 1 sd shift injected, the bench's run gives exactly the firing alerts
    of ``drift-detector replay`` on the same file, the shift's among them."""
    stream = DependentStream("ar1_cycle", seed=2, events_per_period=2000)
    live, feature = inject(stream.live(20_000), "shift_1sd", 10_000)
    run = run_stream(live, "warmup")
    assert any(
        a.feature == feature and not a.segment and a.series_events > 10_000 for a in run.alerts
    )
    (tmp_path / "live.jsonl").write_bytes(b"".join(line + b"\n" for line in live.lines()))
    (tmp_path / "config.yaml").write_bytes(orjson.dumps(stream.config()))
    command = [sys.executable, "-m", "detector.cli", "--log-level", "WARNING", "replay"]
    files = ["--config", str(tmp_path / "config.yaml"), "--input", str(tmp_path / "live.jsonl")]
    out = subprocess.run([*command, *files], capture_output=True, check=True, cwd=REPO).stdout
    replayed = [orjson.loads(line)["data"] for line in out.splitlines()]
    assert [a.model_dump() for a in run.alerts] == [a for a in replayed if a["status"] == "firing"]


def test_bench_script_prints_table_and_json() -> None:
    """``bench/false_alarms.py --json -`` on a small run: JSON rows, and the table's columns."""
    command = [sys.executable, str(REPO / "bench" / "false_alarms.py"), "--events", "20000"]
    options = ["--classes", "iid,poisson_ar", "--period-events", "5000", "--json", "-"]
    done = subprocess.run([*command, *options], capture_output=True, check=True, cwd=REPO)
    results = orjson.loads(done.stdout)
    rows = results["false_alarms"]
    assert [(r["kind"], r["mode"]) for r in rows] == [
        (k, m) for k in ("iid", "poisson_ar") for m in ("baseline", "warmup")
    ]
    assert all(r["events"] == 20_000 and r["series"] == 10 for r in rows[2:])
    header = done.stderr.decode().splitlines()[-len(rows) - 3]
    for column in ("class", "mode", "series", "alerts", "/1M/series", "/1M/model", "fired"):
        assert column in header


def test_power_check_reports_delays_against_the_control() -> None:
    """``power`` finds a 1 sd shift on the i.i.d. control and on a cycle, the control's delay
    beside each; a class without a categorical feature skips ``new_category``."""
    changes = ["shift_1sd", "new_category"]
    rows = power(["ar1_cycle", "iid"], changes, at=2000, horizon=3000, events_per_period=2000)
    expected = [("iid", "shift_1sd"), ("iid", "new_category"), ("ar1_cycle", "shift_1sd")]
    assert [(r.kind, r.change) for r in rows] == expected
    assert all(r.delay is not None and r.delay < 1000 for r in rows)
    assert rows[2].iid_delay == rows[0].delay


def test_decoded_batches_give_the_alerts_of_json_lines() -> None:
    """``Stretch.batches`` (no JSON) through the engine alert exactly as the JSON lines do."""
    stream = DependentStream("missing_daily", seed=4, events_per_period=2000)
    live, _ = inject(stream.live(12_000), "shift_1sd", 6000)
    config = parse_config(stream.config())
    engine = Engine(config)
    direct = [alert for batch in live.batches(3000) for alert in engine.process(batch)]
    replayed: list[AlertEvent] = []
    replay(config, live.lines(), replayed.append)
    assert direct and direct == replayed
