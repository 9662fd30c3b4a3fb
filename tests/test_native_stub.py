"""``detector/_native.pyi`` is written by hand: mypy's stubtest checks it against the built
extension, so a function, class, method or parameter added, renamed or removed in ``native/``
fails here until the stub says the same.

stubtest imports ``detector._native`` and compares every public name, each class's members, and
each function's and method's parameters (pyo3 gives them a ``__text_signature__``) with the stub;
a ``#[pyclass]`` is ``@final`` (it cannot be subclassed) and its ``#[new]`` is ``__new__``. No
allowlist: everything public in the module is visible to it. What it cannot check are the
annotated types (the runtime carries none), and the stub's private helpers (``_SeriesCore``, the
``_Floats``-style aliases), which exist only for mypy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import detector

ROOT = Path(__file__).resolve().parents[1]


def test_stub_matches_the_extension_module() -> None:
    # The tree's own package, whichever checkout or worktree runs the tests.
    package_root = str(Path(detector.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": package_root}
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "detector._native", "--concise"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
