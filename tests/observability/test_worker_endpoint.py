"""A real worker against the real broker: its /metrics, /healthz and /readyz, and `run` logs.

The broker comes from the session fixture in tests/conftest.py; topics and groups are fresh per
test and every wait is bounded.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from detector.testing.kafka_io import produce_records
from detector.testing.synthetic import config_dict

pytestmark = pytest.mark.kafka
DEADLINE = 90.0


def _values(body: bytes, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of one metric: sorted label pairs (model left out) -> value."""
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name:
                labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "model"))
                out[labels] = sample.value
    return out


def _kafka_config(workload: Any, bootstrap: str, topics: dict[str, str]) -> dict[str, Any]:
    data = config_dict(workload.stream, "fraud", topics)
    data["kafka"] = {"bootstrap.servers": bootstrap, "group.id": f"obs-{uuid.uuid4().hex[:8]}"}
    data["metrics"] = {"port": 0}
    return data


def test_worker_serves_its_state(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    workload: Any,
    running_worker: Callable[..., Any],
    fetch: Callable[..., Any],
    poll_until: Callable[..., Any],
) -> None:
    """Ready once assigned; counters, lag, dead letters and drift statistics match the input."""
    topics = {
        "events": topic_factory(2),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    records = [(str(i).encode(), line) for i, line in enumerate(workload.lines)]
    records.insert(100, (b"bad", b"{not json"))
    produce_records(kafka_bootstrap, topics["events"], records)
    config = workload.config(**_kafka_config(workload, kafka_bootstrap, topics))

    with running_worker(config) as (worker, server):
        base = f"http://127.0.0.1:{server.port}"
        poll_until(lambda: fetch(f"{base}/readyz").status == 200, DEADLINE, "/readyz 200")
        ready = fetch(f"{base}/readyz").json()
        assert ready["assigned_partitions"] == [0, 1]

        def consumed_all() -> bytes | None:
            body: bytes = fetch(f"{base}/metrics").body
            done = _values(body, "drift_records_consumed_total")
            lag = _values(body, "drift_consumer_lag_records")
            caught_up = len(lag) == 2 and not any(lag.values())
            return body if sum(done.values()) == len(records) and caught_up else None

        body = poll_until(consumed_all, DEADLINE, "all records consumed and zero lag")
        assert fetch(f"{base}/healthz").status == 200

    assert _values(body, "drift_dead_letter_records_total") == {(("reason", "not_json"),): 1}
    lag = _values(body, "drift_consumer_lag_records")
    assert {dict(k)["partition"] for k in lag} == {"0", "1"}
    stats = _values(body, "drift_series_statistic")
    drifted = (("feature", "amount"), ("segment", "country=DE"), ("statistic", "mean_score_sd"))
    calm = (("feature", "latency"), ("segment", "country=DE"), ("statistic", "mean_score_sd"))
    assert stats[drifted] > 0.5 > abs(stats[calm])
    alerts = _values(body, "drift_alerts_total")
    assert sum(alerts.values()) == worker.report.alerts > 0
    batches = _values(body, "drift_batch_duration_seconds_count")
    assert sum(batches.values()) == worker.report.batches
    assert _values(body, "drift_last_event_timestamp_seconds")
    assert worker.metrics.health()[1]["status"] == "stopped"  # after the block: stopped


def test_cli_run_until_end_with_json_logs(
    kafka_bootstrap: str, topic_factory: Callable[..., str], workload: Any, tmp_path: Path
) -> None:
    """`--log-format json run --until-end`: JSON lines only, the endpoint logged, a summary."""
    topics = {
        "events": topic_factory(1),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    lines = workload.lines[:2000]
    produce_records(kafka_bootstrap, topics["events"], [(None, line) for line in lines])
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(_kafka_config(workload, kafka_bootstrap, topics)))
    root = Path(__file__).absolute().parents[2]

    args = ["--log-format", "json", "run", "--config", str(config), "--until-end"]
    done = subprocess.run(
        [sys.executable, "-m", "detector.cli", *args],
        capture_output=True,
        timeout=120,
        check=False,
        cwd=root,
    )

    assert done.returncode == 0, done.stderr
    logged = [orjson.loads(line) for line in done.stderr.splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in logged)
    serving = [e for e in logged if e["message"].startswith("serving /metrics")]
    assert len(serving) == 1 and "http://127.0.0.1:" in serving[0]["message"]
    summaries = [e["summary"] for e in logged if e["message"] == "run summary"]
    assert len(summaries) == 1
    summary = summaries[0]
    assert (summary["records"], summary["alerts"], summary["dead_letters"]) == (2000, 0, {})
    assert summary["series"] > 0 and summary["commits"] >= 1
    assert summary["state"]["snapshots"] >= summary["series"]  # every series was written
    assert summary["state"]["restored_units"] == 0  # a new group has nothing to restore


def test_cli_run_until_end_draws_progress_on_a_terminal(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    workload: Any,
    tmp_path: Path,
    on_a_pty: Callable[..., Any],
) -> None:
    """On a TTY, `run --until-end` ends its progress line at all records of the end offsets."""
    topics = {
        "events": topic_factory(2),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    lines = workload.lines[:3000]
    produce_records(
        kafka_bootstrap, topics["events"], [(str(i).encode(), v) for i, v in enumerate(lines)]
    )
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(_kafka_config(workload, kafka_bootstrap, topics)))
    root = Path(__file__).absolute().parents[2]
    args = [sys.executable, "-m", "detector.cli", "run", "--config", str(config), "--until-end"]

    code, drawn = on_a_pty(args, root, deadline=DEADLINE)

    assert code == 0, drawn.decode()
    text = drawn.decode()
    assert "\rrun  " in text
    assert "3,000 / 3,000 records (100%)" in text
    assert text.index("(100%)") < text.index("run summary: ")
