"""The exceptions of `sqlite_reconcile`. Every failure raises a subclass of `ReconcileError`;
nothing was written to the database when one is raised."""

from __future__ import annotations

from collections.abc import Sequence


class ReconcileError(Exception):
    """A failure of `reconcile`: the message says where and what. Nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SchemaError(ReconcileError):
    """The desired schema is invalid: a YAML file that does not parse or validate, or a model
    that cannot be expressed (``sqlite_reconcile.sqlalchemy.to_yaml``).

    ``file`` and ``line`` say where in the YAML (when known); ``path`` is the YAML path of the
    value (``tables.users.columns.email``), for a model the table and column it comes from."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.path = path


class Refused(ReconcileError):
    """Refused by policy before anything ran: destructive steps without
    ``allow_destructive=True``, a stale plan, nothing to roll back. ``reason`` says why."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class DataError(ReconcileError):
    """A step failed on the rows the database holds (a NOT NULL, UNIQUE, CHECK or foreign key
    the rows break); the change was rolled back. ``table``, ``constraint``, ``count`` and
    ``sample_keys`` name the rows when they could be found."""

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        constraint: str | None = None,
        count: int | None = None,
        sample_keys: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.table = table
        self.constraint = constraint
        self.count = count
        self.sample_keys = list(sample_keys)


class LockTimeout(ReconcileError):
    """Another connection held the database's write lock for longer than the busy timeout."""


class DatabaseError(ReconcileError):
    """The database could not be opened, read or written (a missing directory, a file that is
    not a database, a disk error)."""
