"""A real Prometheus scrapes a real worker and evaluates deploy/prometheus/alerts.yml against it.

Prometheus is Debian's ``prometheus`` package (installed by .ci/run), started on a free port with
a generated config; the worker consumes a drifted stream from the session's Kafka broker.
"""

from __future__ import annotations

import subprocess
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.testing.kafka_broker import free_port
from detector.testing.kafka_io import produce_records
from detector.testing.synthetic import config_dict

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).absolute().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DEADLINE = 90.0
JOB = "kafka-drift-detector"


@pytest.fixture
def prometheus(
    prometheus_binary: str,
    promtool: str,
    tmp_path: Path,
    fetch: Callable[..., Any],
    poll_until: Callable[..., Any],
) -> Iterator[Callable[[int], str]]:
    """``start(target_port) -> base URL``: a Prometheus scraping 127.0.0.1:target_port every
    second, with the shipped alert rules; stopped after the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(target: int) -> str:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{target}"]}]}
            ],
        }
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        check = subprocess.run(
            [promtool, "check", "config", str(path)], capture_output=True, timeout=60, check=False
        )
        assert check.returncode == 0, check.stdout + check.stderr
        port = free_port()
        log = (tmp_path / "prometheus.log").open("wb")
        args = [
            prometheus_binary,
            f"--config.file={path}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        args += [f"--storage.tsdb.path={tmp_path / 'tsdb'}", "--log.level=warn"]
        procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if procs[-1].poll() is not None:
                pytest.fail(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()}")
            try:
                return bool(fetch(f"{base}/-/ready", timeout=2).status == 200)
            except OSError:
                return False

        poll_until(ready, DEADLINE, "prometheus /-/ready")
        return base

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def _query(fetch: Callable[..., Any], base: str, promql: str) -> list[dict[str, Any]]:
    reply = fetch(f"{base}/api/v1/query?query={urllib.parse.quote(promql)}")
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["status"] == "success"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_prometheus_scrapes_drift_statistics_and_evaluates_rules(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    workload: Any,
    running_worker: Callable[..., Any],
    prometheus: Callable[[int], str],
    fetch: Callable[..., Any],
    poll_until: Callable[..., Any],
) -> None:
    """The API returns the drifted series' statistic; every shipped rule evaluates cleanly."""
    topics = {
        "events": topic_factory(1),
        "alerts": topic_factory(1),
        "dead_letter": topic_factory(1),
    }
    produce_records(kafka_bootstrap, topics["events"], [(None, line) for line in workload.lines])
    data = config_dict(workload.stream, "fraud", topics)
    data["kafka"] = {
        "bootstrap.servers": kafka_bootstrap,
        "group.id": f"prom-{uuid.uuid4().hex[:8]}",
    }
    data["metrics"] = {"port": 0}
    config = workload.config(**data)

    with running_worker(config) as (worker, server):
        poll_until(
            lambda: worker.metrics.snapshot().records == len(workload.lines),
            DEADLINE,
            "the worker to consume the workload",
        )
        base = prometheus(server.port)

        promql = (
            'drift_series_statistic{feature="amount", segment="country=DE", '
            'statistic="mean_score_sd"}'
        )
        (series,) = poll_until(lambda: _query(fetch, base, promql), DEADLINE, promql)
        assert series["metric"]["job"] == JOB and series["metric"]["model"] == "fraud"
        assert float(series["value"][1]) > 0.5
        consumed = _query(fetch, base, "drift_records_consumed_total")
        assert float(consumed[0]["value"][1]) == len(workload.lines)
        assert float(_query(fetch, base, f'up{{job="{JOB}"}}')[0]["value"][1]) == 1.0

        def rules_evaluated() -> list[dict[str, Any]] | None:
            groups = fetch(f"{base}/api/v1/rules").json()["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            # a rule not evaluated yet reports lastEvaluation 0001-01-01T00:00:00Z
            done = rules and all(r["lastEvaluation"] > "2000" for r in rules)
            return rules if done else None

        rules = poll_until(rules_evaluated, DEADLINE, "every rule to be evaluated once")
        shipped = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
        assert {r["name"] for r in rules} == {r["alert"] for r in shipped}
        assert [
            (r["name"], r["health"], r.get("lastError")) for r in rules if r["health"] != "ok"
        ] == []

        def drift_alert() -> list[dict[str, Any]]:
            alerts = fetch(f"{base}/api/v1/alerts").json()["data"]["alerts"]
            return [a for a in alerts if a["labels"]["alertname"] == "DriftAlertsFiring"]

        pending = poll_until(drift_alert, DEADLINE, "DriftAlertsFiring to be pending")
        assert {a["labels"]["model"] for a in pending} == {"fraud"}
        assert {a["labels"]["severity"] for a in pending} <= {"warning", "critical"}
