"""The Prometheus files, unchanged, through the promtool of the Prometheus that docker-compose.yml
runs (3.5, built from the Go module proxy with every service discovery; Debian's promtool lacks
Kubernetes discovery), and their scrape jobs against the objects they must find."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_checks import (  # type: ignore[import-not-found]
    DETECTOR_JOB,
    ROOT,
    ROUTER_JOB,
    VALUE_SETS,
    run,
)
from deploy_tools import PROMETHEUS_MODULE_VERSION  # type: ignore[import-not-found]

PROM = ROOT / "deploy" / "prometheus"
COMPOSE_PROM = ROOT / "deploy" / "compose" / "prometheus.yml"
JOB_IN_QUERY = re.compile(r'job=\\?"([^"\\]+)\\?"')


def test_kubernetes_scrape_config_passes_promtool(upstream_promtool: Path) -> None:
    """deploy/prometheus/prometheus.yml as shipped (kubernetes_sd_configs and its rule file)."""
    done = run(upstream_promtool, "check", "config", "prometheus.yml", cwd=PROM)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: prometheus.yml is valid" in done.stdout
    assert "SUCCESS: 7 rules found" in done.stdout or "rules found" in done.stdout


def test_rules_pass_check_and_unit_tests(upstream_promtool: Path) -> None:
    """alerts.yml and alerts.test.yml as shipped, with Prometheus 3.5's promtool too."""
    checked = run(upstream_promtool, "check", "rules", "alerts.yml", cwd=PROM)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run(upstream_promtool, "test", "rules", "alerts.test.yml", cwd=PROM)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_compose_prometheus_config_passes_promtool(upstream_promtool: Path, tmp_path: Path) -> None:
    """The compose Prometheus config, its rule file at the path the container mounts it."""
    (tmp_path / "alerts.yml").write_text((PROM / "alerts.yml").read_text())
    text = COMPOSE_PROM.read_text().replace("/etc/prometheus/", f"{tmp_path}/")
    (tmp_path / "prometheus.yml").write_text(text)
    done = run(upstream_promtool, "check", "config", tmp_path / "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_is_the_compose_prometheus_version() -> None:
    """The promtool built for these tests is the Prometheus docker-compose.yml runs."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    image = compose["services"]["prometheus"]["image"]
    match = re.fullmatch(r"prom/prometheus:v(\d+)\.(\d+)\.(\d+)", image)
    assert match, image
    major, minor, patch = match.groups()
    assert f"v0.{int(major) * 100 + int(minor)}.{patch}" == PROMETHEUS_MODULE_VERSION


def _jobs(path: Path) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = yaml.safe_load(path.read_text())["scrape_configs"]
    return jobs


def test_job_names_are_the_ones_rules_and_dashboard_query() -> None:
    """Both scrape configs name the detectors kafka-drift-detector and the router
    kafka-drift-router; every job a rule, a rule test or the dashboard queries is one of them."""
    for path in (PROM / "prometheus.yml", COMPOSE_PROM):
        assert [j["job_name"] for j in _jobs(path)] == [DETECTOR_JOB, ROUTER_JOB], path
    queried = set()
    for path in (PROM / "alerts.yml", PROM / "alerts.test.yml"):
        queried |= set(JOB_IN_QUERY.findall(path.read_text()))
    dashboard = (ROOT / "deploy" / "grafana" / "kafka-drift-detector.json").read_text()
    from_dashboard = set(JOB_IN_QUERY.findall(dashboard))
    assert queried == {DETECTOR_JOB}
    assert from_dashboard == {DETECTOR_JOB, ROUTER_JOB}


def _relabel_keeps(job: dict[str, Any], service: dict[str, Any], port_name: str) -> bool:
    """Whether ``job``'s keep rules keep an endpoint of ``service`` on port ``port_name``, as
    Prometheus' endpointslice discovery labels it."""
    meta = {"__meta_kubernetes_endpointslice_port_name": port_name}
    for key, value in service["metadata"]["labels"].items():
        name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
        meta[f"__meta_kubernetes_service_label_{name}"] = value
    for rule in job["relabel_configs"]:
        if rule.get("action") != "keep":
            continue
        joined = ";".join(meta.get(label, "") for label in rule["source_labels"])
        if not re.fullmatch(rule["regex"], joined):
            return False
    return True


@pytest.mark.parametrize("args", VALUE_SETS, ids=lambda a: Path(a[-1]).name if a else "defaults")
def test_kubernetes_jobs_find_the_chart_services(
    render: Callable[..., list[dict[str, Any]]], args: tuple[str, ...]
) -> None:
    """The detector job keeps exactly the detectors' metrics ports, the router job the
    router's, for the chart's Services (and so the plain manifests', which equal them)."""
    jobs = {j["job_name"]: j for j in _jobs(PROM / "prometheus.yml")}
    for job in jobs.values():
        assert job["kubernetes_sd_configs"] == [{"role": "endpointslice"}]
    services = [o for o in render(*args) if o["kind"] == "Service"]
    for service in services:
        component = service["metadata"]["labels"]["app.kubernetes.io/component"]
        (port,) = service["spec"]["ports"]
        kept = {name for name, job in jobs.items() if _relabel_keeps(job, service, port["name"])}
        assert kept == {{"detector": DETECTOR_JOB, "router": ROUTER_JOB}[component]}
        assert not any(_relabel_keeps(job, service, "http") for job in jobs.values())
