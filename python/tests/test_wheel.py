"""The built wheel installs into a fresh virtual environment and works there with no Rust
toolchain anywhere on the PATH: the `reconcile` command, `python -m sqlite_reconcile`, and the
module's `apply`."""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def wheel() -> Path:
    """The wheel to install: $RECONCILE_WHEEL, else the newest under target/wheels/."""
    given = os.environ.get("RECONCILE_WHEEL")
    if given:
        return Path(given)
    found = sorted((REPO_ROOT / "target" / "wheels").glob("sqlite_reconcile-*.whl"), key=os.path.getmtime)
    if not found:
        pytest.fail(
            "no wheel: build one with `maturin build -o target/wheels`, or set RECONCILE_WHEEL", pytrace=False
        )
    return found[-1]


def test_the_wheel_installs_and_runs_without_a_rust_toolchain(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / "bin"
    # Only the new environment and the system's own directories: no cargo, no rustc.
    path = os.pathsep.join([str(bin_dir), "/usr/local/bin", "/usr/bin", "/bin"])
    path = os.pathsep.join(p for p in path.split(os.pathsep) if not (Path(p) / "cargo").exists())
    assert shutil.which("cargo", path=path) is None and shutil.which("rustc", path=path) is None
    env = {"PATH": path, "HOME": str(tmp_path), "NO_COLOR": "1"}

    def run(*argv: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess:
        done = subprocess.run(
            argv, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    run(str(bin_dir / "python"), "-m", "pip", "install", "--no-index", "--quiet", str(wheel()))
    version = run(str(bin_dir / "reconcile"), "--version").stdout
    assert version.startswith("reconcile "), version
    assert run(str(bin_dir / "python"), "-m", "sqlite_reconcile", "--version").stdout == version

    # The command on the example schema, then the module on the same database.
    project = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "schema", project / "schema")
    applied = run(str(bin_dir / "reconcile"), "apply", "--yes", "--db", "app.db", cwd=project)
    assert "recorded as" in applied.stderr, applied.stderr
    script = (
        "import sqlite_reconcile as r\n"
        "assert r.drift('app.db', 'schema').in_sync\n"
        "assert r.apply('app.db', 'schema').applied is False\n"
        "print(len(r.history('app.db')))\n"
    )
    assert run(str(bin_dir / "python"), "-c", script, cwd=project).stdout.strip() == "1"
    # The module is the one in the new environment, not the source tree.
    where = run(str(bin_dir / "python"), "-c", "import sqlite_reconcile; print(sqlite_reconcile.__file__)")
    assert str(env_dir) in where.stdout, where.stdout
