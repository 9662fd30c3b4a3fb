"""The package's layers (docs/architecture.md): no import goes up a layer, none goes round.

Each module of ``detector`` belongs to the layer of its longest listed prefix; a module may
import its own layer and the layers below, never one above. Every import counts, at module
level, inside functions (a deferred import is still a dependency) and under ``TYPE_CHECKING``.
The same imports must form no cycle. ``confluent_kafka`` is imported only where Kafka is the
point. A new module fails here until it is placed in a layer.

This reads the source (``ast``), so it needs no extra tool and runs with the unit tests.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "detector"

LAYERS: list[tuple[str, list[str]]] = [  # lowest first
    (
        "core",
        [
            "detector._native",
            "detector.alerts",
            "detector.baseline",
            "detector.chunks",
            "detector.columns",
            "detector.config",
            "detector.detectors",
            "detector.errors",
            "detector.events",
            "detector.false_alarms",
            "detector.formats",
            "detector.inputs",
            "detector.joint",
            "detector.merge",
            "detector.multivariate",
            "detector.order",
            "detector.predictions",
            "detector.quality",
            "detector.reference",
            "detector.seasonal",
            "detector.segments",
            "detector.series",
            "detector.slices",
            "detector.split",
            "detector.stream_checks",
            "detector.windows",
        ],
    ),
    ("labels", ["detector.labels"]),
    ("state", ["detector.state"]),
    ("engine", ["detector.units", "detector.applier", "detector.engine", "detector.feed"]),
    ("replay", ["detector.replay"]),
    ("interfaces", ["detector.api", "detector.report", "detector.observability"]),
    ("kafka", ["detector.kafka"]),
    ("services", ["detector.routing", "detector.testing", "detector.schemas"]),
    ("entry points", ["detector.cli", "detector.schemas.__main__", "detector"]),
]
PACKAGE_ROOT = "detector"  # its __init__ only: not a prefix of every module

# Imports that break a rule on purpose, each with its reason (reviewed like code).
IGNORED = {
    ("detector.observability.metrics", "detector.routing.config"): (
        "TYPE_CHECKING only: liveness_timeout takes the router's config too"
    ),
    ("detector.formats.registry", "confluent_kafka.schema_registry"): (
        "deferred: the Schema Registry's HTTP client ships with confluent-kafka"
    ),
}

# Third-party packages only some layers may use (a prefix of the importing module).
RESTRICTED = {
    "confluent_kafka": (
        "detector.kafka",
        "detector.routing",
        "detector.testing",
        "detector.observability.metrics",  # the worker's lag gauges read partition positions
    ),
}


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (the extension module by its stub)."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py*")):
        if path.suffix not in (".py", ".pyi") or "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if path.suffix == ".py" or name not in found:
            found[name] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    best, index = "", -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            covers = module == prefix or (
                prefix != PACKAGE_ROOT and module.startswith(prefix + ".")
            )
            if covers and len(prefix) > len(best):
                best, index = prefix, i
    return index


def _ignored(module: str, target: str) -> bool:
    return any(module == m and (target == t or target.startswith(t + ".")) for m, t in IGNORED)


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import statement of ``path``, once each."""
    seen: set[tuple[str, int]] = set()
    for found in _statements(module, path):
        if found not in seen:
            seen.add(found)
            yield found


def _statements(module: str, path: Path) -> Iterator[tuple[str, int]]:
    if path.suffix == ".pyi":
        return
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in MODULES else base), node.lineno


def _graph() -> dict[str, set[str]]:
    return {
        m: {t for t, _ in _imports(m, p) if t in MODULES and t != m} for m, p in MODULES.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer() -> None:
    assert "detector.engine" in MODULES and "detector._native" in MODULES
    unplaced = sorted(m for m in MODULES if _layer(m) < 0)
    assert not unplaced, f"place these modules in a layer of tests/test_layers.py: {unplaced}"


def test_no_import_goes_up_a_layer() -> None:
    wrong: list[str] = []
    for module, path in MODULES.items():
        mine = _layer(module)
        for target, line in _imports(module, path):
            if target in MODULES and _layer(target) > mine and not _ignored(module, target):
                wrong.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line}: {module} ({LAYERS[mine][0]}) "
                    f"imports {target} ({LAYERS[_layer(target)][0]})"
                )
    assert not wrong, "\n".join(wrong)


def test_restricted_packages_stay_at_their_boundary() -> None:
    wrong: list[str] = []
    for module, path in MODULES.items():
        for target, line in _imports(module, path):
            allowed = RESTRICTED.get(target.partition(".")[0])
            if allowed is not None and not module.startswith(allowed):
                if _ignored(module, target):
                    continue
                wrong.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line}: {module} imports {target}"
                )
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_checks_see_a_violation() -> None:
    """The walker finds what it must: a core module importing labels would be caught."""
    assert _layer("detector.split") < _layer("detector.labels.decode")
    assert _layer("detector.split") < _layer("detector.kafka.worker")
    assert _layer("detector.split") < _layer("detector.routing.router")
    assert _layer("detector.alerts") == 0 and _layer("detector") == len(LAYERS) - 1
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    imports = dict(_imports("detector.engine", MODULES["detector.engine"]))
    assert "detector.applier" in imports and "detector.split" in imports
