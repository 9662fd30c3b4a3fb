"""Fixtures of tests/deploy: the real tools (deploy_tools.py) and the chart rendered by helm.

A tool that cannot be installed because its runtime (Go, Node.js) is missing skips its tests
locally and fails them in CI (CI=true), like the other tool-backed tests of this suite.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))  # deploy_tools, deploy_checks
import deploy_tools
from deploy_checks import CHART, RELEASE, run


def _obtain(install: Callable[[], Path]) -> Path:
    try:
        return install()
    except deploy_tools.ToolMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def helm() -> Path:
    return _obtain(deploy_tools.helm)


@pytest.fixture(scope="session")
def upstream_promtool() -> Path:
    return _obtain(deploy_tools.promtool)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    return _obtain(deploy_tools.node_modules)


@pytest.fixture(scope="session")
def render(helm: Path) -> Callable[..., list[dict[str, Any]]]:
    """``render(*helm_args)``: the objects of ``helm template RELEASE CHART *helm_args``."""
    cache: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def _render(*args: str) -> list[dict[str, Any]]:
        if args not in cache:
            done = run(helm, "template", RELEASE, CHART, "--namespace", "ml", *args)
            assert done.returncode == 0, done.stderr
            cache[args] = [d for d in yaml.safe_load_all(done.stdout) if d]
        return cache[args]

    return _render
