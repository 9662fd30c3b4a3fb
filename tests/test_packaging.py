"""The built wheel installs into a fresh venv without a Rust toolchain and runs the example.

What ``make dist`` builds, checked as a user would meet it: an abi3 wheel
(``cp311-abi3-manylinux*``) is installed with pip into a new virtualenv whose PATH has no
``cargo`` or ``rustc`` (binary packages only, so nothing can be compiled), and run from outside
the checkout, so ``import detector`` cannot pick up the source tree. ``drift-detector replay`` of
``examples/fraud.yaml`` on a generated stream must exit 0 and print the same alerts as the
checkout's build, valid against the alert schema that the installed package ships.

Slow (about a minute: the release build of ``native/``, incremental when ``native/target`` or
``$CARGO_TARGET_DIR`` is warm, and installing the runtime dependencies); ``-m 'not slow'`` skips it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

pytestmark = pytest.mark.slow

# Run inside the fresh venv: the demo's stream (examples/demo.py) with amount +1 sd for DE.
GENERATE = """
import sys
import orjson
from detector.testing.synthetic import Drift, SyntheticStream

stream = SyntheticStream(
    numeric=["amount"],
    categorical={"mcc": {"5411": 0.1, "5812": 0.4, "5999": 0.3, "4111": 0.2}},
    segments={"country": ["DE", "FR", "US"], "channel": ["web", "app", "pos"]},
    scale=20.0,
    seed=7,
)
drift = Drift(feature="amount", start=4000, shift=1.0, segment=("country", "DE"))
with open(sys.argv[1], "wb") as out:
    for event in stream.events(6000, [drift]):
        out.write(orjson.dumps(event) + b"\\n")
"""

# Run inside the fresh venv: where the package and its schemas were loaded from.
WHERE = """
import orjson
from importlib import resources
import detector, detector._native, detector.schemas
print(orjson.dumps({
    "version": detector.__version__,
    "package": detector.__file__,
    "native": detector._native.__file__,
    "schema": str(resources.files("detector.schemas").joinpath("alert.v1.schema.json")),
    "alert_schema": detector.schemas.load("alert.v1.schema.json"),
}).decode())
"""


def _maturin() -> list[str]:
    if importlib.util.find_spec("maturin") is not None:
        return [sys.executable, "-m", "maturin"]
    found = shutil.which("maturin")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("maturin is not installed (the dev extra installs it: make install)")
        pytest.skip("maturin is not installed (the dev extra installs it: make install)")
    return [found]


def _path_without_rust() -> str:
    """PATH without any directory that holds cargo or rustc."""
    kept = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and not any((Path(entry) / tool).exists() for tool in ("cargo", "rustc"))
    ]
    return os.pathsep.join(kept)


def _run(args: list[str | Path], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        [str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}\nstdout:\n{result.stdout[-3000:]}\n"
        f"stderr:\n{result.stderr[-3000:]}"
    )
    return result.stdout


def test_wheel_installs_and_replays_without_rust(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = [*_maturin(), "build", "--release", "--quiet", "--interpreter", sys.executable]
    _run([*build, "--out", dist], dict(os.environ), ROOT)
    wheels = list(dist.glob("*.whl"))
    assert len(wheels) == 1, wheels
    wheel = wheels[0]
    # One wheel for every CPython >= 3.11 on this platform.
    assert re.fullmatch(
        rf"kafka_drift_detector-{re.escape(VERSION)}-cp311-abi3-(many|musl)linux_\d+_\d+_\w+\.whl",
        wheel.name,
    ), wheel.name

    # A user's machine: no Rust toolchain, no checkout on sys.path.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "CARGO_HOME", "RUSTUP_HOME"}
    }
    env["PATH"] = _path_without_rust()
    assert shutil.which("cargo", path=env["PATH"]) is None
    assert shutil.which("rustc", path=env["PATH"]) is None
    user = tmp_path / "user"
    user.mkdir()
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], env, user)
    bin_dir = venv / "bin"
    env["PATH"] = os.pathsep.join([str(bin_dir), env["PATH"]])
    # Binary packages only: a dependency without a wheel would need a compiler, and fail here.
    _run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", "--only-binary=:all:", wheel],
        env,
        user,
    )

    assert _run([bin_dir / "drift-detector", "--version"], env, user).strip() == (
        f"drift-detector {VERSION}"
    )
    assert (
        _run(
            [bin_dir / "python", "-c", "import detector; print(detector.__version__)"], env, user
        ).strip()
        == VERSION
    )
    where = orjson.loads(_run([bin_dir / "python", "-c", WHERE], env, user))
    site = str(venv.resolve())
    for key in ("package", "native", "schema"):
        assert str(Path(where[key]).resolve()).startswith(site), (key, where[key])
    assert Path(where["native"]).name == "_native.abi3.so"

    # The example config on a generated stream, from the installed package only.
    events = user / "events.jsonl"
    _run([bin_dir / "python", "-c", GENERATE, events], env, user)
    config = user / "fraud.yaml"
    shutil.copy(ROOT / "examples" / "fraud.yaml", config)
    replay = ["replay", "--config", config, "--input", events]
    installed = _run([bin_dir / "drift-detector", *replay], env, user)
    alerts = [orjson.loads(line) for line in installed.splitlines()]
    assert alerts, "the DE shift of +1 sd raised no alert"
    assert any(a["data"]["segment"] == {"country": "DE"} for a in alerts), alerts[:3]
    validator = Draft202012Validator(where["alert_schema"])
    for alert in alerts:
        validator.validate(alert)
    # The same engine as the checkout's build: identical alert lines.
    checkout = _run([sys.executable, "-m", "detector.cli", *replay], dict(os.environ), ROOT)
    assert installed == checkout
