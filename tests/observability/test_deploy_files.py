"""deploy/: Kubernetes manifests, Prometheus rules, Grafana dashboard agree with the app.

There is no cluster here, so the manifests are checked for what the app needs: kinds, probe
paths and ports, the config they mount, and the KEDA trigger's group and topic. The rules go
through the real promtool (Debian's ``prometheus`` package). tests/deploy goes further: the Helm
chart, schema validation, every argv and config, and the scrape config with Prometheus 3.5's
promtool (Debian's is built without Kubernetes discovery).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import TopicPartition

from detector.config import MetricsConfig, load_config, parse_config
from detector.engine import Engine
from detector.observability.collectors import build_registry
from detector.observability.metrics import WorkerMetrics

ROOT = Path(__file__).absolute().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
PROM = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "kafka-drift-detector.json"
EXAMPLE = ROOT / "examples" / "fraud.yaml"
METRIC = re.compile(r"\b(drift_[a-z0-9_]+)")


def _docs() -> dict[str, dict[str, Any]]:
    """The manifests of deploy/kubernetes by kind; the detector's for kinds the router shares."""
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if (
                doc.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component")
                == "router"
            ):
                continue
            assert doc["kind"] not in docs, f"two {doc['kind']} objects"
            docs[doc["kind"]] = doc
    return docs


def _router() -> dict[str, dict[str, Any]]:
    """The router's objects (router.yaml) by kind."""
    return {doc["kind"]: doc for doc in yaml.safe_load_all((K8S / "router.yaml").read_text())}


def _exported_names(workload: Any, engine: Engine) -> set[str]:
    """Every sample name our /metrics can carry (counters, histogram parts, info)."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    metrics = WorkerMetrics(workload.config())
    metrics.batch(1, [TopicPartition("e", 0, 1)], [("drift", "warning", "firing")], ["x"], 1.0, 0.1)
    metrics.polled(lambda parts: {p: (5, 9) for p in parts}, [0])
    metrics.error("consume", "_TRANSPORT")
    text = generate_latest(build_registry(metrics, engine, "fraud", 10)).decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def _router_exported_names() -> set[str]:
    """Every sample name the router's /metrics can carry."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from detector.routing.config import parse_router_config
    from detector.routing.metrics import RouterMetrics
    from detector.routing.service import build_registry as router_registry

    config = parse_router_config(
        {
            "topics": {"alerts": "a", "dead_letter": "d", "state": "s", "silences": "q"},
            "sinks": {"am": {"type": "alertmanager", "url": "http://127.0.0.1:9093"}},
            "routes": [{"name": "all", "sinks": ["am"]}],
        }
    )
    metrics = RouterMetrics(config, ["am"])
    metrics.sent("am", 1.5)
    metrics.grouped("all")
    text = generate_latest(router_registry(metrics)).decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_kubernetes_objects_and_kustomization() -> None:
    """The detector's five objects and the router's three exist, the kustomization lists every
    manifest, labels select the pods (and never the other component's)."""
    docs = _docs()
    assert set(docs) == {
        "Kustomization",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ScaledObject",
    }
    listed = set(docs["Kustomization"]["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    deployment = docs["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert docs["Service"]["spec"]["selector"].items() <= pod_labels.items()
    assert (
        docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    )
    assert docs["Service"]["spec"]["publishNotReadyAddresses"] is True
    router = _router()
    assert set(router) == {"ConfigMap", "Deployment", "Service"}
    router_pods = router["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert router["Service"]["spec"]["selector"].items() <= router_pods.items()
    assert not docs["Service"]["spec"]["selector"].items() <= router_pods.items()
    assert not router["Service"]["spec"]["selector"].items() <= pod_labels.items()


def test_probes_and_ports_match_the_app() -> None:
    """Probes hit /healthz and /readyz on the container port the mounted config listens on."""
    docs = _docs()
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    (service_port,) = docs["Service"]["spec"]["ports"]
    assert service_port["targetPort"] == "metrics"

    args = container["args"]
    assert args[:2] == ["--log-format", "json"] and "run" in args
    config_path = Path(args[args.index("--config") + 1])
    (mount,) = container["volumeMounts"]
    assert config_path.parent == Path(mount["mountPath"])
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    configmap = docs["ConfigMap"]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    config = yaml.safe_load(configmap["data"][config_path.name])
    metrics = MetricsConfig.model_validate(config["metrics"])
    assert metrics.host == "0.0.0.0" and metrics.enabled
    assert ports["metrics"] == metrics.port == service_port["port"]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(rf"^EXPOSE .*\b{metrics.port}\b", dockerfile, re.MULTILINE)
    grace = pod["terminationGracePeriodSeconds"]
    assert grace > 60  # the producer flush on SIGTERM may take up to 60 s


def test_router_probes_and_ports_match_its_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The router serves /healthz and /readyz on port ``metrics``, 9465, bound to all
    interfaces by its mounted config."""
    from detector.routing.config import parse_router_config

    router = _router()
    pod = router["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    args = container["args"]
    assert args[:2] == ["--log-format", "json"] and "route" in args
    config_path = Path(args[args.index("--config") + 1])
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    config = parse_router_config(yaml.safe_load(router["ConfigMap"]["data"][config_path.name]))
    assert config.metrics.host == "0.0.0.0" and config.metrics.port == 9465
    ((name, port),) = [(p["name"], p["containerPort"]) for p in container["ports"]]
    (service_port,) = router["Service"]["spec"]["ports"]
    assert name == service_port["name"] == "metrics" and port == service_port["port"] == 9465
    assert router["Deployment"]["spec"]["replicas"] == 1
    assert router["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^EXPOSE .*\b9465\b", dockerfile, re.MULTILINE)


def test_configmap_is_the_example_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apart from its metrics section, the mounted config is examples/fraud.yaml."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    data = yaml.safe_load(_docs()["ConfigMap"]["data"]["fraud.yaml"])
    mounted = parse_config(data, "configmap")
    example = load_config(EXAMPLE)
    assert mounted.model_dump(exclude={"metrics"}) == example.model_dump(exclude={"metrics"})
    assert mounted.metrics != example.metrics


def test_keda_scales_the_deployment_on_its_group_lag() -> None:
    """The kafka trigger watches the config's group and topic; at least one replica stays."""
    docs = _docs()
    scaled = docs["ScaledObject"]
    assert scaled["apiVersion"].startswith("keda.sh/")
    assert scaled["spec"]["scaleTargetRef"]["name"] == docs["Deployment"]["metadata"]["name"]
    assert scaled["spec"]["minReplicaCount"] == 1
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    config = yaml.safe_load(docs["ConfigMap"]["data"]["fraud.yaml"])
    meta = trigger["metadata"]
    assert meta["consumerGroup"] == config["kafka"]["group.id"]
    assert meta["topic"] == config["topics"]["events"]
    assert int(meta["lagThreshold"]) > 0
    assert {"bootstrapServers", "offsetResetPolicy"} <= set(meta)


def test_promtool_checks_and_unit_tests_the_rules(promtool: str) -> None:
    """`promtool check rules` accepts alerts.yml and `promtool test rules` passes."""
    checked = _run(promtool, "check", "rules", str(PROM / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    tested = _run(promtool, "test", "rules", str(PROM / "alerts.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rules_and_dashboard_use_only_exported_metrics(
    workload: Any, drifted_engine: Engine
) -> None:
    """Every drift_* name in the alert rules and the dashboard is one the app exports."""
    exported = _exported_names(workload, drifted_engine) | _router_exported_names()
    rules = yaml.safe_load((PROM / "alerts.yml").read_text())["groups"][0]["rules"]
    used_by_rules = {m for r in rules for m in METRIC.findall(r["expr"])}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used_by_dashboard = {m for e in exprs for m in METRIC.findall(e)}
    templating = json.dumps(dashboard["templating"])

    assert used_by_rules and used_by_dashboard
    assert used_by_rules <= exported, used_by_rules - exported
    assert used_by_dashboard <= exported, used_by_dashboard - exported
    assert "drift_series_statistic" in used_by_dashboard
    assert {"drift_router_notifications_sent_total", "drift_router_pending_notifications"} <= (
        used_by_dashboard
    )
    assert set(METRIC.findall(templating)) <= exported
    assert dashboard["uid"] and len({p["id"] for p in dashboard["panels"]}) == len(
        dashboard["panels"]
    )


def test_router_links_open_the_shipped_dashboard() -> None:
    """examples/route.yaml's report link names the dashboard's uid and only its variables."""
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"model", "feature", "segment"} <= variables
    links = yaml.safe_load((ROOT / "examples" / "route.yaml").read_text())["models"]
    reports = [m["report"] for m in links.values() if m.get("report")]
    assert reports
    for report in reports:
        match = re.search(r"/d/([^/?]+)(?:/[^?]*)?\?(.*)$", report)
        assert match, report
        assert match.group(1) == dashboard["uid"]
        params = [p.split("=", 1)[0] for p in match.group(2).split("&")]
        assert params and all(p.startswith("var-") for p in params)
        assert {p.removeprefix("var-") for p in params} <= variables
