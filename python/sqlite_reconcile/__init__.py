"""sqlite-reconcile: SQLite schemas as code, for Python apps.

Declare the tables, indexes, triggers and views in YAML (or generate the tables from SQLAlchemy
or SQLModel models with :mod:`sqlite_reconcile.sqlalchemy`), and call :func:`apply` at startup:
the database is planned against, changed in one transaction, verified and recorded with its
rollback, or found in sync (answered from the history in two queries when nothing changed).

Every function takes ``schema`` as a directory of ``*.yaml`` files, or as a mapping of file name
to YAML text (for a schema shipped as package data). Failures raise a subclass of
:class:`ReconcileError`; nothing is written when one is raised. The database is worked on
without the GIL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from . import _native
from .errors import DatabaseError, DataError, LockTimeout, ReconcileError, Refused, SchemaError

__all__ = [
    "ApplyResult",
    "DataError",
    "DatabaseError",
    "DriftResult",
    "HistoryEntry",
    "LockTimeout",
    "Plan",
    "ReconcileError",
    "Refused",
    "RollbackResult",
    "SchemaError",
    "Step",
    "__version__",
    "apply",
    "drift",
    "history",
    "plan",
    "rollback",
]

__version__: str = _native.VERSION

Schema = Union[str, "os.PathLike[str]", Mapping[str, str]]


@dataclass(frozen=True)
class Step:
    """One step of a plan: what it does (``comment``), to which object, how risky, and its SQL."""

    kind: str
    object: str
    risk: str
    comment: str
    sql: list[str]
    hints: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """The ordered steps from a database to the schema. ``risk`` is the highest of the steps':
    ``"safe"``, ``"data_dependent"`` or ``"destructive"``."""

    in_sync: bool
    summary: str
    risk: str
    steps: list[Step]
    changes: list[dict[str, Any]]


@dataclass(frozen=True)
class ApplyResult:
    """What :func:`apply` did: ``applied`` is true when a change ran (``change_id`` names it in
    the history); false when the database was in sync already."""

    applied: bool
    change_id: str | None
    summary: str
    steps: int
    seconds: float


@dataclass(frozen=True)
class DriftResult:
    """Whether the database has the schema, and each difference (a dict with ``kind``,
    ``object``, ``risk`` and ``what``, as ``reconcile drift --format json`` gives)."""

    in_sync: bool
    differences: list[dict[str, Any]]


@dataclass(frozen=True)
class RollbackResult:
    """What :func:`rollback` undid: the changes (newest first), and the rollback's own change id."""

    rolled_back: list[str]
    change_id: str | None
    summary: str
    steps: int
    seconds: float


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded change."""

    id: str
    kind: str
    applied_at: str
    summary: str
    steps: int
    destructive: int
    rolls_back: str | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


def _schema_args(schema: Schema) -> tuple[str | None, list[tuple[str, str]] | None]:
    if isinstance(schema, Mapping):
        files = []
        for name, text in schema.items():
            if not isinstance(name, str) or not isinstance(text, str):
                raise SchemaError("a schema mapping maps file names (str) to YAML text (str)")
            files.append((name, text))
        return None, files
    return os.fspath(schema), None


def _call(fn, *args, **kwargs) -> Any:
    try:
        return json.loads(fn(*args, **kwargs))
    except _native.NativeError as e:
        raise _error(json.loads(e.args[0])) from None


def _error(d: dict[str, Any]) -> ReconcileError:
    kind, message = d.get("kind"), d.get("message", "")
    if kind == "schema":
        return SchemaError(message, file=d.get("file"), line=d.get("line"), path=d.get("path"))
    if kind == "refused":
        return Refused(message, reason=d.get("reason"))
    if kind == "data":
        return DataError(
            message,
            table=d.get("table"),
            constraint=d.get("constraint"),
            count=d.get("count"),
            sample_keys=d.get("sample_keys") or (),
        )
    if kind == "lock":
        return LockTimeout(message)
    if kind == "database":
        return DatabaseError(message)
    return ReconcileError(message)


def _db(db: str | os.PathLike[str]) -> str:
    return os.fspath(db)


def apply(
    db: str | os.PathLike[str],
    schema: Schema,
    *,
    allow_destructive: bool = False,
    busy_timeout_ms: int = 5000,
    exclude: Sequence[str] = (),
) -> ApplyResult:
    """Brings the database file ``db`` (created if missing) to ``schema`` in one transaction,
    verified and recorded with its rollback. Safe and data-dependent steps run; destructive
    ones (a dropped table or column) only with ``allow_destructive=True`` (their values are
    kept for :func:`rollback`), else :class:`Refused`. Processes applying at once wait for the
    write lock (up to ``busy_timeout_ms``, then :class:`LockTimeout`) and the later ones find
    the work done. A step that fails on the rows raises :class:`DataError`, rolled back.
    ``exclude``: names or glob patterns of objects the database holds that the schema does not
    manage (``["alembic_version"]``), left alone as ``exclude`` in reconcile.toml leaves them."""
    schema_dir, files = _schema_args(schema)
    d = _call(
        _native.apply,
        _db(db),
        schema_dir,
        files,
        allow_destructive=allow_destructive,
        busy_timeout_ms=busy_timeout_ms,
        exclude=list(exclude),
    )
    return ApplyResult(d["applied"], d["change_id"], d["summary"], d["steps"], d["seconds"])


def plan(
    db: str | os.PathLike[str], schema: Schema, *, busy_timeout_ms: int = 5000, exclude: Sequence[str] = ()
) -> Plan:
    """The plan from ``db`` to ``schema``, without changing anything (a missing file is planned
    against as empty, and not created). ``exclude`` as for :func:`apply`."""
    schema_dir, files = _schema_args(schema)
    d = _call(
        _native.plan, _db(db), schema_dir, files, busy_timeout_ms=busy_timeout_ms, exclude=list(exclude)
    )
    steps = [
        Step(s["kind"], s["object"], s["risk"], s["comment"], list(s["sql"]), list(s.get("hints", [])))
        for s in d["steps"]
    ]
    return Plan(d["in_sync"], d["summary"], d["risk"], steps, d["changes"])


def drift(
    db: str | os.PathLike[str], schema: Schema, *, busy_timeout_ms: int = 5000, exclude: Sequence[str] = ()
) -> DriftResult:
    """Compares ``db`` with ``schema``: ``in_sync``, and the differences. ``exclude`` as for
    :func:`apply`."""
    schema_dir, files = _schema_args(schema)
    d = _call(
        _native.drift, _db(db), schema_dir, files, busy_timeout_ms=busy_timeout_ms, exclude=list(exclude)
    )
    return DriftResult(d["in_sync"], d["differences"])


def rollback(
    db: str | os.PathLike[str],
    *,
    to: str | None = None,
    allow_destructive: bool = False,
    busy_timeout_ms: int = 5000,
) -> RollbackResult:
    """Undoes the newest recorded change (or every change newer than ``to``) in one
    transaction, bringing dropped columns and tables back with their values. Undoing a change
    that added a column or table drops it: that needs ``allow_destructive=True``."""
    d = _call(
        _native.rollback,
        _db(db),
        to,
        allow_destructive=allow_destructive,
        busy_timeout_ms=busy_timeout_ms,
    )
    return RollbackResult(d["rolled_back"], d["change_id"], d["summary"], d["steps"], d["seconds"])


def history(db: str | os.PathLike[str], *, busy_timeout_ms: int = 5000) -> list[HistoryEntry]:
    """The changes recorded in ``db``, newest first (empty for a missing file)."""
    d = _call(_native.history_of, _db(db), busy_timeout_ms=busy_timeout_ms)
    return [
        HistoryEntry(
            e["id"],
            e["kind"],
            e["applied_at"],
            e["summary"],
            e["steps"],
            e["destructive"],
            e.get("rolls_back"),
            e,
        )
        for e in d["history"]
    ]
