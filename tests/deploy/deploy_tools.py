"""The real tools tests/deploy runs, installed from package registries into ``.cache/deploy-tools``.

- ``helm`` (Helm 4): built from the Go module proxy with ``go install``;
- ``promtool`` of Prometheus 3.5 (the version docker-compose.yml runs), built from the Go module
  proxy: Debian's ``promtool`` is built without Kubernetes service discovery, so it rejects the
  ``kubernetes_sd_configs`` of deploy/prometheus/prometheus.yml;
- the KEDA and Prometheus Operator CRD schemas (compiled validators) from the npm registry, for
  ScaledObject and ServiceMonitor. Core Kubernetes objects are checked with the Python package
  ``kubernetes-validate`` (a dev dependency in pyproject.toml; it ships the JSON schemas).

Each install happens once: later runs find the versioned binary (Go's module and build caches
make a rebuild after ``rm -rf .cache`` quick too). ``python tests/deploy/deploy_tools.py``
installs all three (``make test-deps``); the tests call the same functions when one is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).absolute().parents[2]
CACHE = ROOT / ".cache" / "deploy-tools"
HELM_VERSION = "v4.3.2"
# Prometheus' Go module numbers release 3.x.y as v0.30x.y: v0.305.0 is Prometheus 3.5.0.
PROMETHEUS_MODULE_VERSION = "v0.305.0"
NPM_PACKAGES = {
    "@kubernetes-models/keda": "2.0.0",
    "@kubernetes-models/prometheus-operator": "6.0.0",
}
INSTALL_TIMEOUT = 1800  # a first build on a fresh machine downloads and compiles a lot


class ToolMissing(Exception):
    """A runtime that installs the tool (go, npm) is not on this machine."""


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def _go() -> str:
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        raise ToolMissing(
            "Go is not installed: helm and promtool are built from the Go module proxy"
        )
    return go


def _go_env(tmp_bin: Path) -> dict[str, str]:
    # -modcacherw: the module cache stays deletable; GOTOOLCHAIN=local: no toolchain download
    return {"GOBIN": str(tmp_bin), "GOFLAGS": "-modcacherw", "GOTOOLCHAIN": "local"}


def helm() -> Path:
    """Path of ``helm`` HELM_VERSION, built with ``go install`` if missing."""
    target = CACHE / "bin" / f"helm-{HELM_VERSION}"
    if target.exists():
        return target
    go = _go()
    work = CACHE / "build-helm"
    work.mkdir(parents=True, exist_ok=True)
    ldflags = f"-X helm.sh/helm/v4/internal/version.version={HELM_VERSION}"
    _run(
        [go, "install", "-ldflags", ldflags, f"helm.sh/helm/v4/cmd/helm@{HELM_VERSION}"],
        work,
        _go_env(work / "bin"),
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    (work / "bin" / "helm").replace(target)
    return target


_PROMTOOL_GO_MOD = f"""module promtoolbuild

go 1.23.0

require github.com/prometheus/prometheus {PROMETHEUS_MODULE_VERSION}

// as in Prometheus' own go.mod (a dependency's replace directives do not apply)
replace github.com/fsnotify/fsnotify v1.8.0 => github.com/fsnotify/fsnotify v1.7.0
"""


def promtool() -> Path:
    """Path of upstream ``promtool`` (Prometheus 3.5, every service discovery built in).

    ``go install ...@version`` refuses Prometheus' go.mod (it has replace directives), so a
    small module that requires it builds the command instead.
    """
    target = CACHE / "bin" / f"promtool-{PROMETHEUS_MODULE_VERSION}"
    if target.exists():
        return target
    go = _go()
    work = CACHE / "build-promtool"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text(_PROMTOOL_GO_MOD)
    (work / "go.sum").unlink(missing_ok=True)
    env = _go_env(work / "bin")
    env["GOFLAGS"] += " -mod=mod"
    out = work / "promtool"
    _run([go, "build", "-o", str(out), "github.com/prometheus/prometheus/cmd/promtool"], work, env)
    target.parent.mkdir(parents=True, exist_ok=True)
    out.replace(target)
    return target


def node_modules() -> Path:
    """``node_modules`` holding NPM_PACKAGES (``npm install`` if missing or other versions)."""
    work = CACHE / "node"
    modules = work / "node_modules"
    installed = {
        name: json.loads((modules / name / "package.json").read_text())["version"]
        for name in NPM_PACKAGES
        if (modules / name / "package.json").exists()
    }
    if installed == NPM_PACKAGES:
        return modules
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ToolMissing("Node.js and npm are not installed: the CRD schemas come from npm")
    work.mkdir(parents=True, exist_ok=True)
    (work / "package.json").write_text(
        json.dumps({"name": "deploy-tools", "private": True, "dependencies": NPM_PACKAGES})
    )
    _run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], work)
    return modules


def main() -> int:
    for name, install in (("helm", helm), ("promtool", promtool), ("npm", node_modules)):
        try:
            print(f"deploy tools: {name}: {install()}")
        except ToolMissing as exc:
            print(f"deploy tools: {name}: skipped, {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
