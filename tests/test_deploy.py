"""Deployment files that cannot run here (no Docker engine) are at least consistent."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_parses_and_points_at_real_files() -> None:
    """docker-compose.yml is valid YAML; its Dockerfile, config and scripts exist."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"kafka", "detector", "demo-producer"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    for name in ("detector", "demo-producer"):
        assert (ROOT / services[name]["build"]["dockerfile"]).is_file()
    app_paths = re.findall(r"/app/(\S+?)[\"'\]]", (ROOT / "docker-compose.yml").read_text())
    assert app_paths
    for path in app_paths:
        assert (ROOT / path).is_file(), path


def test_dockerfile_runs_as_non_root() -> None:
    """The image drops root before its entrypoint."""
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^USER 10001$", text, re.MULTILINE)
    assert text.index("USER") < text.index("ENTRYPOINT")
