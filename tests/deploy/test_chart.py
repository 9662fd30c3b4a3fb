"""The Helm chart (deploy/helm/kafka-drift-detector) and the plain manifests (deploy/kubernetes)
are what the app runs with: a real ``helm`` lints and renders the chart, every rendered and
plain object passes its JSON schema (core kinds: kubernetes-validate, strict; KEDA and
Prometheus Operator kinds: their CRD schemas from npm), every container's argv parses with the
CLI's own parser, and every mounted config passes ``drift-detector check-config``."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_checks import (  # type: ignore[import-not-found]
    CHART,
    DETECTOR_JOB,
    RELEASE,
    ROOT,
    ROUTER_JOB,
    VALUE_SETS,
    by_kind_and_name,
    check_config,
    container_env,
    mounted_config,
    parse_argv,
    run,
    validate_core,
    workloads,
)

K8S = ROOT / "deploy" / "kubernetes"
CRD_VALIDATOR = Path(__file__).with_name("validate_crds.mjs")
Render = Callable[..., list[dict[str, Any]]]
# Labels only Helm sets; the plain manifests are the chart's objects without them.
HELM_ONLY_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by"}
OK = {"model": "x", "kafka": {"group.id": "g"}, "topics": {"events": "e"}}  # renders


def plain_objects() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [
        doc
        for name in kustomization["resources"]
        for doc in yaml.safe_load_all((K8S / name).read_text())
        if doc
    ]


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's values merge: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        both_maps = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both_maps else value
    return out


def _values(args: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in args[1::2]:
        values = _merge(values, yaml.safe_load(Path(path).read_text()))
    return values


@pytest.mark.parametrize("args", VALUE_SETS, ids=lambda a: Path(a[-1]).name if a else "defaults")
def test_helm_lint_passes(helm: Path, args: tuple[str, ...]) -> None:
    """``helm lint --strict`` accepts the chart with its defaults and each ci/ values file."""
    done = run(helm, "lint", "--strict", CHART, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("args", VALUE_SETS, ids=lambda a: Path(a[-1]).name if a else "defaults")
def test_each_model_gets_its_objects_and_one_router(render: Render, args: tuple[str, ...]) -> None:
    """Per model: Deployment, ConfigMap, metrics Service, PDB, ScaledObject (when KEDA is on);
    one router (Deployment, ConfigMap, Service); ServiceMonitors only when enabled; no Secret
    (secrets are referenced, never rendered); every selector selects its pods."""
    values = _values(args)
    objects = by_kind_and_name(render(*args))
    expected: set[tuple[str, str]] = set()
    for model in values["models"]:
        name = f"{RELEASE}-{model['name']}"
        expected |= {("Deployment", name), ("ConfigMap", name), ("Service", f"{name}-metrics")}
        expected.add(("PodDisruptionBudget", name))
        if model.get("keda", {}).get("enabled", values["detector"]["keda"]["enabled"]):
            expected.add(("ScaledObject", name))
    router = f"{RELEASE}-router"
    expected |= {("Deployment", router), ("ConfigMap", router), ("Service", f"{router}-metrics")}
    if values["serviceMonitor"]["enabled"]:
        expected |= {("ServiceMonitor", f"{RELEASE}-detector"), ("ServiceMonitor", router)}
    assert set(objects) == expected

    for (kind, _), obj in objects.items():
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/name"] == "kafka-drift-detector"
        if kind == "Deployment":
            pod_labels = obj["spec"]["template"]["metadata"]["labels"]
            assert obj["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    deployments = {o["metadata"]["name"]: o for o in objects.values() if o["kind"] == "Deployment"}
    pods = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    for (kind, name), obj in objects.items():
        selector = {
            "Service": lambda o: o["spec"]["selector"],
            "PodDisruptionBudget": lambda o: o["spec"]["selector"]["matchLabels"],
            "ServiceMonitor": lambda o: o["spec"]["selector"]["matchLabels"],
        }.get(kind)
        if selector is None:
            continue
        chosen = {n for n, labels in pods.items() if selector(obj).items() <= labels.items()}
        if kind == "ServiceMonitor":
            services = [
                o
                for o in objects.values()
                if o["kind"] == "Service"
                and selector(obj).items() <= o["metadata"]["labels"].items()
            ]
            assert services, f"{name} selects no Service"
            continue
        # a Service or PDB of model X selects exactly X's pods
        assert chosen == {name.removesuffix("-metrics")}, (kind, name, chosen)
    for obj in objects.values():
        if obj["kind"] == "ScaledObject":
            assert obj["spec"]["scaleTargetRef"]["name"] in deployments
            assert "replicas" not in deployments[obj["metadata"]["name"]]["spec"]


@pytest.mark.parametrize("args", VALUE_SETS, ids=lambda a: Path(a[-1]).name if a else "defaults")
def test_rendered_and_plain_objects_pass_their_schemas(
    render: Render, node_modules: Path, args: tuple[str, ...]
) -> None:
    """Core objects against Kubernetes' JSON schemas (strict: an unknown field is an error);
    ScaledObject and ServiceMonitor against the KEDA and Prometheus Operator CRD schemas."""
    objects = render(*args) + (plain_objects() if not args else [])
    custom = [o for o in objects if o["kind"] in ("ScaledObject", "ServiceMonitor")]
    for obj in objects:
        if obj not in custom:
            validate_core(obj)
    done = subprocess.run(
        ["node", str(CRD_VALIDATOR), str(node_modules)],
        input=json.dumps(custom),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == len(custom)
    assert [r for r in results if r["error"] is not None] == []


def test_the_schema_checks_reject_broken_objects(render: Render, node_modules: Path) -> None:
    """The validators are not vacuous: a misspelt field, a wrong type, a bad CRD field fail."""
    objects = by_kind_and_name(render())
    deployment = copy.deepcopy(objects[("Deployment", f"{RELEASE}-fraud")])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(AssertionError, match="livenesProbe"):
        validate_core(deployment)
    service = copy.deepcopy(objects[("Service", f"{RELEASE}-fraud-metrics")])
    service["spec"]["ports"][0]["port"] = "metrics"
    with pytest.raises(AssertionError):
        validate_core(service)
    scaled = copy.deepcopy(objects[("ScaledObject", f"{RELEASE}-fraud")])
    scaled["spec"]["minReplicaCount"] = "one"
    del scaled["spec"]["scaleTargetRef"]
    done = subprocess.run(
        ["node", str(CRD_VALIDATOR), str(node_modules)],
        input=json.dumps([scaled]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    ((result),) = json.loads(done.stdout)
    assert "minReplicaCount" in result["error"] and "scaleTargetRef" in result["error"]


def _check_workloads(objects: list[dict[str, Any]], tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Every Deployment's argv parses, its config passes check-config with the container's
    environment, and probes, ports and Services agree with the config's metrics section."""
    services = [o for o in objects if o["kind"] == "Service"]
    checked: dict[str, dict[str, Any]] = {}
    for deployment, container in workloads(objects):
        args = parse_argv(container["args"])
        assert args.log_format == "json"
        assert args.command in ("run", "route"), args
        _, text = mounted_config(objects, deployment, str(args.config))
        path = tmp_path / deployment["metadata"]["name"] / args.config.name
        path.parent.mkdir()
        path.write_text(text)
        config = check_config(path, container_env(container, text))
        checked[deployment["metadata"]["name"]] = config

        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        assert component == {"run": "detector", "route": "router"}[args.command]
        assert config["metrics"]["host"] == "0.0.0.0" and config["metrics"]["enabled"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"metrics": config["metrics"]["port"]}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        pod = deployment["spec"]["template"]
        (service,) = [
            s
            for s in services
            if s["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        ]
        assert (
            service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"]
        )
        (port,) = service["spec"]["ports"]
        assert (port["name"], port["port"], port["targetPort"]) == (
            "metrics",
            config["metrics"]["port"],
            "metrics",
        )
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        if args.command == "run":
            assert config["model"] and pod["spec"]["terminationGracePeriodSeconds"] > 60
    return checked


@pytest.mark.parametrize("args", VALUE_SETS, ids=lambda a: Path(a[-1]).name if a else "defaults")
def test_chart_containers_parse_and_their_configs_pass_check_config(
    render: Render, args: tuple[str, ...], tmp_path: Path
) -> None:
    """Detectors on 9464 and the router on 9465 (named port ``metrics``); KEDA watches the
    group and topic of the config it scales."""
    objects = render(*args)
    checked = _check_workloads(objects, tmp_path)
    ports = {n: c["metrics"]["port"] for n, c in checked.items()}
    assert ports.pop(f"{RELEASE}-router") == 9465
    assert set(ports.values()) == {9464}
    for obj in objects:
        if obj["kind"] != "ScaledObject":
            continue
        config = checked[obj["spec"]["scaleTargetRef"]["name"]]
        (trigger,) = obj["spec"]["triggers"]
        assert trigger["type"] == "kafka" and obj["spec"]["minReplicaCount"] == 1
        meta = trigger["metadata"]
        assert meta["consumerGroup"] == config["kafka"]["group.id"]
        assert meta["topic"] == config["topics"]["events"]
        assert meta["bootstrapServers"] == _values(args)["kafka"]["bootstrapServers"]
        assert int(meta["lagThreshold"]) > 0


def test_plain_manifests_parse_and_their_configs_pass_check_config(tmp_path: Path) -> None:
    """deploy/kubernetes: the same checks as the chart's objects."""
    checked = _check_workloads(plain_objects(), tmp_path)
    assert set(checked) == {f"{RELEASE}-fraud", f"{RELEASE}-router"}


def _normalized(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    for meta in (obj["metadata"], obj.get("spec", {}).get("template", {}).get("metadata", {})):
        for label in HELM_ONLY_LABELS:
            meta.get("labels", {}).pop(label, None)
        meta.get("annotations", {}).pop("checksum/config", None)
        if meta.get("annotations") == {}:
            del meta["annotations"]
    if obj["kind"] == "ConfigMap":  # compare the configs, not their comments and key order
        obj["data"] = {k: yaml.safe_load(v) for k, v in obj["data"].items()}
    return obj


def test_plain_manifests_are_the_chart_with_its_defaults(render: Render) -> None:
    """deploy/kubernetes equals ``helm template drift-detector`` with the chart's defaults,
    but for the labels only Helm sets and the config checksum: same names, labels, probes,
    ports, args and configs."""
    chart = {k: _normalized(v) for k, v in by_kind_and_name(render()).items()}
    plain = {k: _normalized(v) for k, v in by_kind_and_name(plain_objects()).items()}
    assert set(plain) == set(chart)
    for key, obj in plain.items():
        assert obj == chart[key], key
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {p.name for p in K8S.glob("*.yaml")} - {
        "kustomization.yaml"
    }
    chart_meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    (image,) = kustomization["images"]
    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None
    assert image["newTag"] == chart_meta["appVersion"] == version.group(1)


def test_secrets_are_referenced_never_rendered(render: Render) -> None:
    """ci/two-models-values.yaml takes Kafka and sink credentials from Secrets by name: every
    container gets them through envFrom, and no value of the chart holds one."""
    values_file = CHART / "ci" / "two-models-values.yaml"
    objects = render("-f", str(values_file))
    values = yaml.safe_load(values_file.read_text())
    for deployment, container in workloads(objects):
        refs = [s["secretRef"]["name"] for s in container.get("envFrom", [])]
        expected = [values["existingSecret"]]
        if deployment["metadata"]["labels"]["app.kubernetes.io/component"] == "router":
            expected.append(values["router"]["existingSecret"])
        assert refs == expected
        assert all("value" not in e or "PASSWORD" not in e["name"] for e in container["env"])
    secret_keys = {"sasl.password", "ssl.key.password", "ssl.keystore.password", "routing_key"}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            slack = node.get("type") == "slack"
            for key, value in node.items():
                if key in secret_keys or (slack and key == "url"):
                    assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value), f"{path}.{key}"
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk(values, "values")
    assert [o for o in objects if o["kind"] == "Secret"] == []


def test_servicemonitors_scrape_under_the_rule_job_names(render: Render) -> None:
    """With serviceMonitor.enabled, the detectors are job kafka-drift-detector and the router
    kafka-drift-router: the jobs alerts.yml and the Grafana dashboard query."""
    objects = render("-f", str(CHART / "ci" / "two-models-values.yaml"))
    jobs = {}
    for obj in objects:
        if obj["kind"] != "ServiceMonitor":
            continue
        (endpoint,) = obj["spec"]["endpoints"]
        assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
        (job,) = [r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
        jobs[obj["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]] = job
        assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert jobs == {"detector": DETECTOR_JOB, "router": ROUTER_JOB}
    rules = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    dashboard = (ROOT / "deploy" / "grafana" / "kafka-drift-detector.json").read_text()
    assert f'up{{job="{DETECTOR_JOB}"}}' in rules
    assert f'up{{job=\\"{DETECTOR_JOB}\\"}}' in dashboard
    assert f'up{{job=\\"{ROUTER_JOB}\\"}}' in dashboard


def test_readme_helm_install_command_renders(helm: Path) -> None:
    """The ``helm install`` line of docs/operations.md, run as ``helm template``, renders the
    release."""
    page = (ROOT / "docs" / "operations.md").read_text()
    match = re.search(r"^helm install (\S+) (deploy/helm/\S+)(.*)$", page, re.MULTILINE)
    assert match, "docs/operations.md has no `helm install NAME deploy/helm/...` line"
    name, chart, rest = match.groups()
    assert (ROOT / chart) == CHART and name == RELEASE
    extra = [a for a in rest.split() if a not in ("-f", "my-values.yaml")]
    done = run(helm, "template", name, chart, *extra)
    assert done.returncode == 0, done.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(done.stdout) if d}
    assert {"Deployment", "ConfigMap", "Service", "ScaledObject"} <= kinds


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ([{"name": "router", "config": OK}], "taken by the alert router"),
        ([{"name": "Fraud", "config": OK}], "lowercase"),
        ([{"name": "a", "config": OK}, {"name": "a", "config": OK}], "listed twice"),
        ([{"name": "a", "config": {**OK, "metrics": {"enabled": False}}}], "probes"),
        ([{"name": "a", "config": {"model": "a", "kafka": {}}}], "group.id"),
    ],
)
def test_chart_refuses_models_it_cannot_run(
    helm: Path, tmp_path: Path, models: list[dict[str, Any]], message: str
) -> None:
    """Bad model lists fail at render time with a message, not in the cluster."""
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"models": models}))
    done = run(helm, "template", RELEASE, CHART, "-f", values)
    assert done.returncode != 0
    assert message in done.stderr
