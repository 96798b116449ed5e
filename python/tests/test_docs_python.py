"""docs/PYTHON.md runs as written: its marked blocks, in order, in one empty directory, with the
package installed in this Python's environment.

Markers, each an HTML comment on the line before a fenced block:

- `<!-- run -->`: an `sh` block, run with `bash -euo pipefail`, `PATH` starting with this
  environment's `bin` (so `python`, `pip`, `alembic` and `reconcile` are its own);
- `<!-- run: python -->`: a `python` block, run with this Python;
- `<!-- output -->`: what the block before printed (stdout and stderr together), exactly.

Every block must exit 0, and every `sh` or `python` block must be marked, so that a command
the page shows cannot go unrun. pip runs with `PIP_NO_INDEX`: the package is installed already,
and the network is never used. At the end the state the walkthrough promises is checked on the
files it left.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlite_reconcile

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "PYTHON.md"
BIN = Path(sys.executable).parent
"""The environment's scripts: `reconcile`, `pip` and `alembic` sit beside its Python."""

MARKERS = {"<!-- run -->": "sh", "<!-- run: python -->": "python", "<!-- output -->": "output"}
"""Marker line → what the fenced block after it is."""


@dataclass
class Block:
    kind: str
    """`sh`, `python` or `output`"""
    line: int
    """the line of the opening fence in the page, from 1"""
    text: str


def blocks(markdown: str) -> list[Block]:
    """The marked blocks of the page, in order. Fails on a marker that is not followed by a
    fence of its language, and on an `sh` or `python` block that has no marker."""
    lines = markdown.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.fullmatch(r"```(\w*)", lines[i])
        if fence is None:
            i += 1
            continue
        language = fence.group(1)
        marker = lines[i - 1].strip() if i > 0 else ""
        end = lines.index("```", i + 1)
        kind = MARKERS.get(marker)
        if kind is None:
            assert language not in ("sh", "python") or marker.startswith("<!-- not run"), (
                f"PYTHON.md:{i + 1}: a `{language}` block without a run marker"
            )
        else:
            assert kind == "output" or kind == language, (
                f"PYTHON.md:{i + 1}: `{marker}` before a `{language}` block"
            )
            found.append(Block(kind, i + 1, "\n".join(lines[i + 1 : end]) + "\n"))
        i = end + 1
    return found


def run(block: Block, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RECONCILE_", "PIP_")) and k != "PYTHONPATH"
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    if block.kind == "sh":
        argv = ["bash", "-euo", "pipefail", "-c", block.text]
    else:
        argv = [sys.executable, "-c", block.text]
    return subprocess.run(
        argv,
        check=False,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )


def test_markers_cover_the_page() -> None:
    found = blocks(DOC.read_text(encoding="utf-8"))
    kinds = [b.kind for b in found]
    assert kinds.count("sh") >= 10 and kinds.count("python") >= 3 and kinds.count("output") >= 8
    assert kinds[0] != "output"
    assert all(a.kind != "output" or b.kind != "output" for a, b in zip(found, found[1:])), (
        "two outputs in a row"
    )


def test_walkthrough_runs(tmp_path: Path) -> None:
    assert (BIN / "reconcile").is_file(), f"no `reconcile` beside {sys.executable}: install the package"
    previous: tuple[Block, str] | None = None
    for block in blocks(DOC.read_text(encoding="utf-8")):
        if block.kind == "output":
            assert previous is not None
            ran, output = previous
            assert output == block.text, (
                f"PYTHON.md:{block.line}: the output of the block at line {ran.line} differs\n"
                f"--- shown\n{block.text}--- printed\n{output}"
            )
            continue
        done = run(block, tmp_path)
        assert done.returncode == 0, (
            f"PYTHON.md:{block.line}: the {block.kind} block exited {done.returncode}\n{done.stdout}"
        )
        previous = (block, done.stdout)

    # Where the walkthrough leaves the app: Alembic gone, the trigger back, the database the
    # schema, every change in the history.
    assert not (tmp_path / "alembic").exists() and not (tmp_path / "alembic.ini").exists()
    assert sorted(p.name for p in (tmp_path / "schema").iterdir()) == [
        "models.yaml",
        "reconcile.schema.json",
        "triggers.yaml",
    ]
    db = tmp_path / "app.db"
    assert sqlite_reconcile.drift(db, tmp_path / "schema").in_sync
    connection = sqlite3.connect(db)
    try:
        objects = connection.execute(
            "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE '_reconcile_%' ORDER BY type, name"
        ).fetchall()
        projects = connection.execute("SELECT id, name, updated_at IS NOT NULL FROM projects").fetchall()
        tasks = connection.execute("SELECT * FROM tasks").fetchall()
    finally:
        connection.close()
    assert objects == [
        ("index", "ix_tasks_project_id"),
        ("table", "projects"),
        ("table", "tasks"),
        ("trigger", "projects_touch_updated_at"),
    ]
    assert projects == [(1, "Web site", 1)]
    assert tasks == [(1, 1, "Write the about page", 0, None)]

    entries = sqlite_reconcile.history(db)
    assert [(e.kind, e.destructive) for e in entries] == [
        ("apply", 1),  # alembic_version dropped
        ("apply", 0),  # due_at added again
        ("rollback", 1),  # due_at removed
        ("apply", 0),  # due_at added
        ("apply", 0),  # the trigger
    ]
    assert entries[2].rolls_back == entries[3].id
    assert entries[4].raw["outcome"] == "applied"


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("```sh\nls\n```\n", "a `sh` block without a run marker"),
        ("<!-- run -->\n```python\nprint(1)\n```\n", "`<!-- run -->` before a `python` block"),
        ("<!-- not run: shown only -->\n```sh\nls\n```\n", None),
    ],
    ids=["unmarked", "wrong-language", "not-run"],
)
def test_blocks_refuses_unmarked_commands(page: str, message: str | None) -> None:
    if message is None:
        assert blocks(page) == []
        return
    with pytest.raises(AssertionError, match=re.escape(message)):
        blocks(page)
