"""Deployment files that cannot run here (no Docker engine) are at least consistent."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from detector.config import load_config
from detector.routing.config import load_router_config

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, dict[str, object]]:
    services: dict[str, dict[str, object]] = yaml.safe_load(
        (ROOT / "docker-compose.yml").read_text()
    )["services"]
    return services


def test_compose_runs_the_full_stack_from_real_files() -> None:
    """Kafka, producer, detector, router, Prometheus, Alertmanager; every mounted file exists."""
    services = _compose()
    assert set(services) == {
        "kafka",
        "demo-producer",
        "detector",
        "router",
        "prometheus",
        "alertmanager",
    }
    assert str(services["kafka"]["image"]).startswith("apache/kafka:")
    text = (ROOT / "docker-compose.yml").read_text()
    for host_path in re.findall(r"- \./(\S+?):/", text):
        assert (ROOT / host_path).exists(), host_path
    for app_path in re.findall(r"/app/(\S+?)[\"'\]]", text):
        assert (ROOT / app_path).is_file(), app_path
    for name in ("detector", "demo-producer", "router"):
        build = services[name]["build"]
        assert isinstance(build, dict) and (ROOT / build["dockerfile"]).is_file()


def test_compose_configs_load_and_only_open_the_metrics_port() -> None:
    """The detector config is the example plus a reachable metrics endpoint; the router loads."""
    compose = load_config(ROOT / "deploy" / "compose" / "fraud.yaml")
    example = load_config(ROOT / "examples" / "fraud.yaml")
    assert compose.metrics.host == "0.0.0.0" and compose.metrics.port == 9464
    assert compose.model_dump(exclude={"metrics"}) == example.model_dump(exclude={"metrics"})
    router = load_router_config(ROOT / "deploy" / "compose" / "route.yaml")
    assert [r.name for r in router.routes] == ["everything"]


def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """promtool accepts the stack's Prometheus config with its alert rules."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (make test-deps)")
        pytest.skip("promtool is not installed (make test-deps)")
    rules = tmp_path / "alerts.yml"
    rules.write_text((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    config = (ROOT / "deploy" / "compose" / "prometheus.yml").read_text()
    (tmp_path / "prometheus.yml").write_text(config.replace("/etc/prometheus/", f"{tmp_path}/"))
    done = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_runs_as_non_root() -> None:
    """The image drops root before its entrypoint."""
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^USER 10001$", text, re.MULTILINE)
    assert text.index("USER") < text.index("ENTRYPOINT")
