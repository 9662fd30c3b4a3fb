"""Checks shared by the deployment tests: argv through the CLI's own parser, configs through
``drift-detector check-config``, Kubernetes objects through their JSON schemas."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate

from detector.cli import _parser

ROOT = Path(__file__).absolute().parents[2]
CHART = ROOT / "deploy" / "helm" / "kafka-drift-detector"
RELEASE = "drift-detector"  # the release name of docs/operations.md's `helm install`
# every way the tests render the chart: its defaults and each ci/*-values.yaml
VALUE_SETS: list[tuple[str, ...]] = [
    (),
    *[("-f", str(p)) for p in sorted((CHART / "ci").glob("*-values.yaml"))],
]
KUBERNETES_VERSION = "1.33"  # schemas of kubernetes-validate; the chart needs >= 1.25
DETECTOR_JOB, ROUTER_JOB = "kafka-drift-detector", "kafka-drift-router"
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def parse_argv(argv: list[str]) -> argparse.Namespace:
    """``drift-detector ARGV`` parsed by the parser ``detector.cli`` builds; an argument error
    (argparse's exit 2) fails with argparse's message."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return _parser().parse_args(argv)
        except SystemExit as exc:
            raise AssertionError(f"drift-detector {argv} does not parse: {err.getvalue()}") from exc


def check_config(path: Path, env: dict[str, str]) -> dict[str, Any]:
    """``drift-detector check-config --config PATH`` in a subprocess with exactly the ``${VAR}``
    values ``env`` gives (others removed); its JSON output (defaults filled in)."""
    text = path.read_text()
    names = {name for name, _ in _REF.findall(text)}
    base = {k: v for k, v in os.environ.items() if k not in names}
    done = subprocess.run(
        [sys.executable, "-m", "detector.cli", "check-config", "--config", str(path)],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"check-config {path}:\n{done.stderr}"
    checked: dict[str, Any] = json.loads(done.stdout)
    return checked


def container_env(container: dict[str, Any], config_text: str) -> dict[str, str]:
    """The environment a container gives its config: plain ``env`` values, and a stand-in for
    each ``${VAR}`` without default that a Secret provides (``valueFrom.secretKeyRef`` or an
    ``envFrom`` secretRef). A ``${VAR}`` nothing provides fails: the config would not load."""
    env = {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}
    from_secret = {
        e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
    }
    has_secret_ref = any("secretRef" in source for source in container.get("envFrom", []))
    for name, default in _REF.findall(config_text):
        if name in env or default:
            continue
        assert name in from_secret or has_secret_ref, (
            f"${{{name}}} has no default and {container['name']} gets no {name} "
            "(neither env nor a Secret by reference)"
        )
        env[name] = f"https://secret.invalid/{name}"  # a URL: sink URLs are secrets too
    return env


def validate_core(obj: dict[str, Any]) -> None:
    """Strict JSON-schema validation of a core Kubernetes object (unknown fields are errors)."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(f"{obj['kind']} {obj['metadata']['name']}: {exc.message}") from exc


def by_kind_and_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        assert key not in out, f"two {key}"
        out[key] = obj
    return out


def workloads(objects: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(Deployment, its single container) for every Deployment."""
    out = []
    for obj in objects:
        if obj["kind"] == "Deployment":
            (container,) = obj["spec"]["template"]["spec"]["containers"]
            out.append((obj, container))
    return out


def mounted_config(
    objects: list[dict[str, Any]], deployment: dict[str, Any], path: str
) -> tuple[dict[str, Any], str]:
    """(ConfigMap, text) of the file ``path`` that the Deployment's container mounts."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (mount,) = [m for m in container["volumeMounts"] if Path(path).parent == Path(m["mountPath"])]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    name = volume["configMap"]["name"]
    (configmap,) = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name
    ]
    return configmap, configmap["data"][Path(path).name]
