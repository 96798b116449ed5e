"""Shared test setup: the package importable from the source tree, and the real `reconcile`
binary for tests that run it on real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository: python/tests/ → ../../"""

PYTHON_DIR = REPO_ROOT / "python"
TESTS_DIR = Path(__file__).resolve().parent

# Run from a checkout without installing: `sqlite_reconcile` comes from python/ unless an
# installed copy already provides it. The model apps are imported as `apps.*`.
try:
    import sqlite_reconcile.sqlalchemy  # noqa: F401
except ImportError:
    sys.path.insert(0, str(PYTHON_DIR))
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


@pytest.fixture(scope="session")
def reconcile_bin() -> Path:
    """The `reconcile` binary: $RECONCILE_BIN, else target/release/reconcile of this repo."""
    binary = Path(os.environ.get("RECONCILE_BIN") or REPO_ROOT / "target" / "release" / "reconcile")
    if not binary.is_file():
        pytest.fail(
            f"reconcile binary not found at {binary}: run `cargo build --release` in {REPO_ROOT}, "
            "or set RECONCILE_BIN",
            pytrace=False,
        )
    return binary


@pytest.fixture
def reconcile_cli(reconcile_bin: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run `reconcile ARGS...` in tmp_path (so no reconcile.toml of the repo applies), without
    color; returns the finished process. `check=True` (the default) fails the test with the
    command's output when it exits with another code than `expect` (0 by default)."""

    def run(*args: object, expect: int = 0, check: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILE_")}
        env["NO_COLOR"] = "1"
        argv = [str(reconcile_bin), *map(str, args)]
        done = subprocess.run(
            argv, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        if check and done.returncode != expect:
            pytest.fail(
                f"`reconcile {' '.join(map(str, args))}` exited {done.returncode}, expected {expect}\n"
                f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}",
                pytrace=False,
            )
        return done

    return run
