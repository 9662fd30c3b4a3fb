"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so everything they
hand the app is checked with the app itself: every argv through the CLI's own parser, every
config through ``drift-detector check-config``, every mounted file on disk, the scrape jobs
against the alert rules, and Grafana's provisioning against the shipped dashboard."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.routing.notifications import ALERT_LABELS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "deploy"))
from deploy_checks import (  # noqa: E402
    DETECTOR_JOB,
    ROUTER_JOB,
    check_config,
    parse_argv,
)

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
APP_SERVICES = ("demo-producer", "detector", "router")


def _compose() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())[
        "services"
    ]
    return services


def _host_path(service: dict[str, Any], container_path: str) -> Path:
    """The file of the checkout a container sees at ``container_path`` (bind mounts)."""
    for volume in service.get("volumes", []):
        host, target = volume.split(":")[:2]
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return ROOT / host / os.path.relpath(container_path, target)
    raise AssertionError(f"{container_path} is not mounted")


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of each Dockerfile line, continuations joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(line.split(None, 1)[0], line.split(None, 1)[1]) for line in lines]


def _exec_form(instruction: str) -> list[str]:
    (args,) = [json.loads(a) for i, a in _dockerfile() if i == instruction]
    assert isinstance(args, list), f"{instruction} must be in exec form"
    return args


def test_compose_runs_the_full_stack_from_real_files() -> None:
    """Kafka, producer, detector, router, Prometheus, Alertmanager, Grafana; every mounted
    file exists; the app services build from the Dockerfile."""
    services = _compose()
    assert set(services) == {
        "kafka",
        "demo-producer",
        "detector",
        "router",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    assert str(services["kafka"]["image"]).startswith("apache/kafka:")
    for name, service in services.items():
        if "image" in service:
            assert re.search(r":v?\d+\.\d+\.\d+$", service["image"]), (name, "pin the image")
        for volume in service.get("volumes", []):
            assert (ROOT / volume.split(":")[0]).exists(), (name, volume)
    text = (ROOT / "docker-compose.yml").read_text()
    for app_path in re.findall(r"/app/(\S+?)[\"'\]]", text):
        assert (ROOT / app_path).is_file(), app_path
    for name in APP_SERVICES:
        build = services[name]["build"]
        assert isinstance(build, dict) and (ROOT / build["dockerfile"]) == DOCKERFILE


def test_compose_argv_parses_and_configs_pass_check_config() -> None:
    """The detector and router commands (after the image's ENTRYPOINT) parse with the CLI's
    parser; the configs they name pass check-config with the service's environment, and
    bind the port the service publishes and Prometheus scrapes."""
    services = _compose()
    assert _exec_form("ENTRYPOINT") == ["drift-detector"]
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"]
        for job in yaml.safe_load((ROOT / "deploy/compose/prometheus.yml").read_text())[
            "scrape_configs"
        ]
    }
    for name, command, job in (("detector", "run", DETECTOR_JOB), ("router", "route", ROUTER_JOB)):
        service = services[name]
        assert "entrypoint" not in service  # the image's drift-detector
        args = parse_argv(service["command"])
        assert (args.command, args.log_format) == (command, "json")
        config = check_config(_host_path(service, str(args.config)), service["environment"])
        metrics = config["metrics"]
        assert metrics["host"] == "0.0.0.0" and metrics["enabled"]
        assert service["ports"] == [f"{metrics['port']}:{metrics['port']}"]
        assert targets[job] == [f"{name}:{metrics['port']}"]
        assert config["kafka"]["bootstrap.servers"] == "kafka:9092"
    router = check_config(
        _host_path(services["router"], "/etc/drift/route.yaml"), services["router"]["environment"]
    )
    assert router["sinks"]["alertmanager"]["url"] == "http://alertmanager:9093"


def test_compose_demo_producer_argv_parses() -> None:
    """The producer's entrypoint is examples/demo.py with a flag it accepts."""
    (python, script, *flags) = _compose()["demo-producer"]["entrypoint"]
    assert python == "python" and script == "/app/examples/demo.py"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for flag in flags:
        assert flag in done.stdout


def test_compose_configs_load_and_only_open_the_metrics_port() -> None:
    """The detector config is the example plus a reachable metrics endpoint."""
    from detector.config import load_config

    compose = load_config(ROOT / "deploy" / "compose" / "fraud.yaml")
    example = load_config(ROOT / "examples" / "fraud.yaml")
    assert compose.metrics.host == "0.0.0.0" and compose.metrics.port == 9464
    assert compose.model_dump(exclude={"metrics"}) == example.model_dump(exclude={"metrics"})


def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """Debian's promtool accepts the stack's Prometheus config with its alert rules (and so
    does Prometheus 3.5's: tests/deploy/test_prometheus_config.py)."""
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


def test_compose_alertmanager_config_passes_amtool() -> None:
    """The stack's Alertmanager config passes amtool (Debian's prometheus-alertmanager), and
    it groups by labels the router's Alertmanager sink really sends."""
    amtool = shutil.which("amtool")
    if amtool is None:
        if os.environ.get("CI"):
            pytest.fail("amtool is not installed (make test-deps)")
        pytest.skip("amtool is not installed (make test-deps)")
    path = ROOT / "deploy" / "compose" / "alertmanager.yml"
    done = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    group_by = yaml.safe_load(path.read_text())["route"]["group_by"]
    assert set(group_by) <= set(ALERT_LABELS)


def test_grafana_is_provisioned_with_the_dashboard_and_prometheus() -> None:
    """The data source is the stack's Prometheus; the dashboard provider reads the directory
    where deploy/grafana is mounted; the home dashboard is the shipped one."""
    services = _compose()
    grafana = services["grafana"]
    provisioning = "/etc/grafana/provisioning"
    sources = _host_path(grafana, f"{provisioning}/datasources")
    (source,) = [
        s for path in sources.glob("*.yml") for s in yaml.safe_load(path.read_text())["datasources"]
    ]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    prometheus_port = services["prometheus"]["ports"][0].split(":")[1]
    assert source["url"] == f"http://prometheus:{prometheus_port}"

    providers = _host_path(grafana, f"{provisioning}/dashboards")
    (provider,) = [
        p for path in providers.glob("*.yml") for p in yaml.safe_load(path.read_text())["providers"]
    ]
    assert provider["type"] == "file"
    folder = _host_path(grafana, provider["options"]["path"])
    assert folder == ROOT / "deploy" / "grafana"
    home = _host_path(grafana, grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    dashboard = json.loads(home.read_text())
    assert dashboard["uid"] == "kafka-drift-detector"
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == source["type"]


def test_dockerfile_argv_parses_and_runs_as_non_root() -> None:
    """ENTRYPOINT + CMD parse with the CLI's parser and name a config that passes
    check-config; the image drops root before its entrypoint and exposes both ports."""
    text = DOCKERFILE.read_text()
    assert re.search(r"^USER 10001$", text, re.MULTILINE)
    assert text.index("USER") < text.index("ENTRYPOINT")
    args = parse_argv(_exec_form("CMD"))
    assert args.command == "run"
    (copied,) = [a.split() for i, a in _dockerfile() if i == "COPY" and "examples" in a]
    assert args.config.parent == Path("/app") / copied[1]
    check_config(ROOT / copied[0] / args.config.name, {})
    (exposed,) = [a.split() for i, a in _dockerfile() if i == "EXPOSE"]
    assert exposed == ["9464", "9465"]


def test_dockerfile_pins_its_toolchains() -> None:
    """Every base image has a fixed version; the Rust toolchain is the official image's, not
    an installer script piped into a shell."""
    images = [a.split()[0] for i, a in _dockerfile() if i == "FROM"]
    stages = {a.split()[-1] for i, a in _dockerfile() if i == "FROM" and " AS " in a}
    for image in images:
        assert image in stages or re.search(r":\d+\.\d+(\.\d+)?-", image), image
    (rust,) = [i for i in images if i.startswith("rust:")]
    assert re.fullmatch(r"rust:\d+\.\d+\.\d+-slim-bookworm", rust)
    text = DOCKERFILE.read_text()
    assert "| sh" not in text and "sh.rustup.rs" not in text and "curl" not in text


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rule for the patterns used here: a pattern matches the path or
    one of its parent directories; ``**/`` matches any number of directories."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        regex = fnmatch.translate(pattern).replace(".*/", "(.*/)?", 1) if "**/" in pattern else None
        for prefix in prefixes:
            if (regex and re.match(regex, prefix)) or fnmatch.fnmatchcase(prefix, pattern):
                result = not negate
    return result


def test_dockerignore_keeps_dev_state_out_of_the_build_context() -> None:
    """The virtualenv, Rust build output, broker data, git objects, dist and caches stay out;
    everything the Dockerfile copies stays in."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (
        ".venv/lib/python3.11/site-packages/numpy/__init__.py",
        "native/target/release/libdetector.so",
        ".kafka/lib/kafka.jar",
        ".git/objects/pack/x.pack",
        "dist/kafka_drift_detector-0.1.0.tar.gz",
        ".cache/deploy-tools/bin/helm-v4.3.2",
        ".pytest_cache/v/cache",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/x",
        "detector/__pycache__/cli.cpython-311.pyc",
        "detector/_native.abi3.so",
    ):
        assert _ignored(patterns, path), path
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    for instruction, arguments in _dockerfile():
        if instruction == "COPY" and "--from" not in arguments:
            for source in arguments.split()[:-1]:
                assert (ROOT / source).exists(), source
                files = [f for f in tracked if f == source or f.startswith(source + "/")]
                assert files, source
                assert [f for f in files if _ignored(patterns, f)] == [], source
