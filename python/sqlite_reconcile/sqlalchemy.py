"""SQLAlchemy models → reconcile's YAML schema.

``to_yaml(metadata)`` describes the tables of a SQLAlchemy ``MetaData`` (``SQLModel.metadata``,
``Base.metadata``) in reconcile's format: the same schema ``metadata.create_all()`` writes on
SQLite, so that ``reconcile apply`` and ``create_all`` build databases that ``reconcile
inspect`` describes with the same text. Every piece of DDL comes from SQLAlchemy's own SQLite
dialect (types, defaults, CHECK and index expressions, constraint names), never from a second
rendering of ours.

``python -m sqlite_reconcile.sqlalchemy MODULE:ATTR -o FILE`` writes that YAML into a schema
directory; ``--check`` says whether the file is still what the models give.

What the database never sees is not part of the schema and is left out on purpose: Python-side
``default=`` and ``onupdate=``, ``server_onupdate`` (a promise that a trigger changes the column:
declare that trigger in a hand-written YAML file beside the generated one), comments, ``info``,
other dialects' options, and DDL attached to events. Anything that would reach the database but
has no form in the format raises ``SchemaError`` naming the table and column: nothing is dropped
in silence.

This module needs SQLAlchemy and imports nothing of the package but ``errors``.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import os
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite as sa_sqlite

from .errors import SchemaError

__all__ = ["load_metadata", "main", "to_yaml"]

COMMAND = "python -m sqlite_reconcile.sqlalchemy"
"""How the command is run; the header of a generated file names it."""

_ACTIONS = {
    "CASCADE": "cascade",
    "SET NULL": "set_null",
    "SET DEFAULT": "set_default",
    "RESTRICT": "restrict",
    "NO ACTION": "no_action",
}
"""Foreign-key actions as SQLAlchemy spells them (any case) → the format's values."""

_CONFLICTS = {"ROLLBACK", "ABORT", "FAIL", "IGNORE", "REPLACE"}
"""ON CONFLICT resolutions (``sqlite_on_conflict*`` options) the format has."""


def to_yaml(metadata: sa.MetaData, *, exclude: Iterable[str] = (), command: str | None = None) -> str:
    """The YAML text of reconcile's format for the tables of ``metadata``.

    Tables are written sorted by name (as ``reconcile inspect`` writes them), so the text does
    not depend on the order the models were imported in; everything inside a table keeps
    SQLAlchemy's order. ``exclude`` holds table names or ``fnmatch`` patterns (compared without
    case, as SQLite compares names) of tables to leave out; a kept table that references an
    excluded one is an error, since the schema would not check. ``command`` is the command line
    the header names as the way to regenerate the file.

    Written as ``create_all`` writes them on SQLite: the primary key at table level (``id
    INTEGER NOT NULL, PRIMARY KEY (id)``, still the rowid), or at column level with
    ``autoincrement`` when the table asks for ``sqlite_autoincrement``; UNIQUE, CHECK and
    FOREIGN KEY constraints at table level (a ``Column(unique=True)`` included), CHECKs given to
    a ``Column`` at column level; the CHECK an ``Enum`` or ``Boolean`` adds when it creates a
    constraint; indexes with ``sqlite_where``; computed columns; ``sqlite_with_rowid``,
    ``sqlite_strict`` and the ``sqlite_on_conflict*`` options.

    Python-side ``default=``/``onupdate=`` never reach the database and are ignored. Raises
    ``SchemaError`` (with ``path`` set) for what cannot be expressed: a type with no SQLite form
    (``ARRAY``, PostgreSQL-only types), a server default or expression SQLite's dialect cannot
    render, an ``Identity`` or ``Sequence`` off the rowid, tables in another schema, DEFERRABLE
    constraints other than foreign keys, and the like."""
    patterns = [exclude.lower()] if isinstance(exclude, str) else [p.lower() for p in exclude]
    kept = {
        table.name: table
        for table in sorted(metadata.tables.values(), key=lambda t: t.name)
        if not _excluded(table.name, patterns)
    }
    ddl = _Ddl()
    tables = {name: _guarded_table(ddl, table, kept) for name, table in kept.items()}
    return _header(command) + _render_tables(tables)


def _excluded(name: str, patterns: Sequence[str]) -> bool:
    """Whether table ``name`` matches one of the lower-cased ``patterns``."""
    return any(fnmatch.fnmatchcase(name.lower(), pattern) for pattern in patterns)


class _Ddl:
    """SQLAlchemy's SQLite dialect, asked for one piece of DDL at a time."""

    def __init__(self) -> None:
        self.dialect = sa_sqlite.dialect()
        self.compiler = self.dialect.ddl_compiler(self.dialect, None)
        self.preparer = self.dialect.identifier_preparer

    def type(self, column: sa.Column) -> str:
        """The column's declared type, as in CREATE TABLE (collation included)."""
        return self.dialect.type_compiler_instance.process(column.type, type_expression=column)

    def default(self, column: sa.Column) -> str | None:
        """The DEFAULT expression of a server default, parenthesized as the dialect does."""
        default = self.compiler.get_column_default_string(column)
        if default is None:
            return None
        if not re.match(r"""^\s*['"(]""", default) and re.match(r".*\W.*", default):
            return f"({default})"
        return default

    def expression(self, clause: Any) -> str:
        """A CHECK, index or generated expression, with literal values and no table names."""
        return self.compiler.sql_compiler.process(clause, include_table=False, literal_binds=True)

    def quote(self, name: str) -> str:
        """A column name as a term of a key, quoted only when SQLite needs it."""
        return self.preparer.quote(name)

    def name(self, item: Any) -> str | None:
        """The name a constraint or index gets in DDL (naming conventions applied), unquoted."""
        if item.name is None:
            return None
        formatted = self.preparer.format_constraint(item)
        return None if formatted is None else _unquote(formatted)

    def creates(self, constraint: sa.Constraint) -> bool:
        """Whether ``create_all`` writes the constraint: the CHECK of an ``Enum`` or
        ``Boolean`` has a rule saying so."""
        should_create = getattr(constraint, "_should_create_for_compiler", None)
        if should_create is not None:
            return bool(should_create(self.compiler))
        rule = getattr(constraint, "_create_rule", None)
        return rule is None or bool(rule(self.compiler))


def _guarded_table(ddl: _Ddl, table: sa.Table, kept: dict[str, sa.Table]) -> dict[str, Any]:
    """``_table``, with whatever else SQLAlchemy refuses while writing the table (a naming
    convention that needs a name the constraint lacks, say) reported as a ``SchemaError``."""
    try:
        return _table(ddl, table, kept)
    except sa_exc.SQLAlchemyError as err:
        raise SchemaError(
            f"table `{table.name}`: SQLAlchemy cannot write it for SQLite ({_reason(err)})",
            path=f"tables.{table.name}",
        ) from None


def _unquote(name: str) -> str:
    """A double-quoted SQL identifier → its text."""
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name[1:-1].replace('""', '"')
    return name


def _table(ddl: _Ddl, table: sa.Table, kept: dict[str, sa.Table]) -> dict[str, Any]:
    """One table in the format's keys, in the order ``reconcile inspect`` writes them."""
    where = f"tables.{table.name}"
    if table.schema is not None:
        raise SchemaError(
            f"table `{table.name}`: in schema `{table.schema}`; reconcile manages the tables "
            "of one database (the `main` schema), so leave the schema out or exclude the table",
            path=where,
        )
    if getattr(table, "_prefixes", None):
        prefixes = " ".join(table._prefixes)
        raise SchemaError(
            f"table `{table.name}`: CREATE {prefixes} TABLE cannot be expressed; reconcile "
            "manages ordinary tables",
            path=where,
        )
    options = table.dialect_options["sqlite"]
    rowid_pk = _autoincrement_column(table)
    spec: dict[str, Any] = {
        "columns": [_column(ddl, table, column, rowid_pk) for column in table.columns if not column.system]
    }
    _put(spec, "primary_key", _primary_key(ddl, table, rowid_pk))
    constraints = [c for c in table._sorted_constraints if c is not table.primary_key and ddl.creates(c)]
    uniques = [c for c in constraints if isinstance(c, sa.UniqueConstraint) and len(c.columns) > 0]
    _put(spec, "unique", [_unique(ddl, table, c) for c in uniques])
    _put(spec, "checks", [_check(ddl, table, c) for c in constraints if isinstance(c, sa.CheckConstraint)])
    _put(
        spec,
        "foreign_keys",
        [_foreign_key(ddl, table, c, kept) for c in constraints if isinstance(c, sa.ForeignKeyConstraint)],
    )
    if options.get("with_rowid") is False:
        spec["without_rowid"] = True
    if options.get("strict"):
        spec["strict"] = True
    indexes = {}
    for index in sorted(table.indexes, key=lambda i: ddl.name(i) or ""):
        name, body = _index(ddl, table, index)
        indexes[name] = body
    _put(spec, "indexes", indexes)
    return spec


def _put(spec: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` unless ``value`` is empty: absent keys are the format's defaults."""
    if value:
        spec[key] = value


def _autoincrement_column(table: sa.Table) -> sa.Column | None:
    """The column written ``INTEGER PRIMARY KEY AUTOINCREMENT``, when the table asks for
    ``sqlite_autoincrement`` (the only case the dialect keeps the key on the column)."""
    if not table.dialect_options["sqlite"]["autoincrement"]:
        return None
    columns = list(table.primary_key.columns)
    if len(columns) == 1:
        column = columns[0]
        if issubclass(column.type._type_affinity, sa.Integer) and not column.foreign_keys:
            return column
    raise SchemaError(
        f"table `{table.name}`: sqlite_autoincrement needs a primary key of one INTEGER column "
        f"that is no foreign key; the key is ({', '.join(c.name for c in columns) or 'none'})",
        path=f"tables.{table.name}",
    )


def _column(ddl: _Ddl, table: sa.Table, column: sa.Column, rowid_pk: sa.Column | None) -> dict[str, Any]:
    """One column: name, type, key, NOT NULL, DEFAULT, COLLATE, generated, column CHECKs."""
    where = f"tables.{table.name}.columns.{column.name}"
    spec: dict[str, Any] = {"name": column.name}
    declared, collate = _split_collation(_column_type(ddl, table, column))
    spec["type"] = declared
    options = column.dialect_options["sqlite"]
    if column is rowid_pk:
        spec["primary_key"] = True
        _put(spec, "primary_key_on_conflict", _conflict(options["on_conflict_primary_key"], table, where))
        spec["autoincrement"] = True
    elif column.primary_key and column.autoincrement is True and len(table.primary_key.columns) != 1:
        raise SchemaError(
            f"table `{table.name}`, column `{column.name}`: autoincrement=True on a composite "
            "primary key; SQLite numbers rows only through a single INTEGER PRIMARY KEY",
            path=where,
        )
    if not column.nullable:
        spec["not_null"] = True
        _put(spec, "not_null_on_conflict", _conflict(options["on_conflict_not_null"], table, where))
    _put(spec, "default", _column_default(ddl, table, column))
    _put(spec, "collate", collate)
    _put(spec, "generated", _generated(ddl, table, column))
    _refuse_generators(ddl, table, column)
    _put(spec, "checks", [_check(ddl, table, c, column) for c in _column_checks(table, column)])
    return spec


def _column_checks(table: sa.Table, column: sa.Column) -> list[sa.CheckConstraint]:
    """The CHECKs given to a ``Column``, in the order they were made."""
    checks = sorted(column.constraints, key=lambda c: c._creation_order)
    for constraint in checks:
        if not isinstance(constraint, sa.CheckConstraint):
            raise SchemaError(
                f"table `{table.name}`, column `{column.name}`: a column-level "
                f"{type(constraint).__name__} has no form in the format",
                path=f"tables.{table.name}.columns.{column.name}",
            )
    return checks


def _column_type(ddl: _Ddl, table: sa.Table, column: sa.Column) -> str:
    """The declared type, or ``SchemaError`` when SQLite's dialect has no form for it."""
    try:
        return ddl.type(column)
    except sa_exc.CompileError as err:
        raise SchemaError(
            f"table `{table.name}`, column `{column.name}`: type {column.type!r} has no SQLite "
            f"form ({_reason(err)}); use a type SQLAlchemy's SQLite dialect can write, such as "
            "JSON or a TypeDecorator over Text",
            path=f"tables.{table.name}.columns.{column.name}",
        ) from None


def _split_collation(declared: str) -> tuple[str, str | None]:
    """``VARCHAR(20) COLLATE "NOCASE"`` → (``VARCHAR(20)``, ``NOCASE``): the format keeps the
    collation in its own key."""
    match = re.fullmatch(r'(.*?)\s+COLLATE\s+(?:"((?:[^"]|"")*)"|(\S+))', declared, re.DOTALL)
    if match is None:
        return declared, None
    quoted, bare = match.group(2), match.group(3)
    return match.group(1), quoted.replace('""', '"') if quoted is not None else bare


def _column_default(ddl: _Ddl, table: sa.Table, column: sa.Column) -> str | None:
    """The DEFAULT expression of a ``server_default``. A ``FetchedValue`` (a value the database
    makes by other means) writes nothing, as in ``create_all``."""
    try:
        return ddl.default(column)
    except (sa_exc.CompileError, sa_exc.ArgumentError, NotImplementedError) as err:
        raise SchemaError(
            f"table `{table.name}`, column `{column.name}`: its server default cannot be "
            f"written for SQLite ({_reason(err)})",
            path=f"tables.{table.name}.columns.{column.name}",
        ) from None


def _generated(ddl: _Ddl, table: sa.Table, column: sa.Column) -> dict[str, Any] | None:
    """A ``Computed`` column: ``GENERATED ALWAYS AS (expr)``, VIRTUAL unless persisted."""
    computed = column.computed
    if computed is None:
        return None
    expr = _expression(ddl, computed.sqltext, table, f"tables.{table.name}.columns.{column.name}", column)
    spec: dict[str, Any] = {"expr": expr}
    if computed.persisted:
        spec["stored"] = True
    return spec


def _refuse_generators(ddl: _Ddl, table: sa.Table, column: sa.Column) -> None:
    """An ``Identity`` or ``Sequence`` is dropped by SQLite's dialect: harmless on the rowid,
    which numbers itself, and a lost promise anywhere else."""
    generator = None
    if column.identity is not None:
        generator = "Identity()"
    elif isinstance(column.default, sa.Sequence):
        generator = f"Sequence({column.default.name!r})"
    if generator is None or _is_rowid_alias(ddl, table, column):
        return
    raise SchemaError(
        f"table `{table.name}`, column `{column.name}`: {generator} has no SQLite form; only "
        "a single primary key declared INTEGER numbers its rows (the rowid)",
        path=f"tables.{table.name}.columns.{column.name}",
    )


def _is_rowid_alias(ddl: _Ddl, table: sa.Table, column: sa.Column) -> bool:
    """Whether ``column`` is the table's single primary key declared exactly ``INTEGER``, the
    rowid's alias (``BIGINT`` is not)."""
    return (
        list(table.primary_key.columns) == [column]
        and ddl.type(column).upper() == "INTEGER"
        and table.dialect_options["sqlite"].get("with_rowid") is not False
    )


def _primary_key(ddl: _Ddl, table: sa.Table, rowid_pk: sa.Column | None) -> Any:
    """The table-level PRIMARY KEY, as ``create_all`` writes it (``PRIMARY KEY (id)``)."""
    constraint = table.primary_key
    if rowid_pk is not None or constraint is None or len(constraint.columns) == 0:
        return None
    where = f"tables.{table.name}"
    _refuse_deferrable(constraint, table, "PRIMARY KEY")
    implicit = getattr(constraint, "_implicit_generated", False)
    columns = constraint.columns_autoinc_first if implicit else constraint.columns
    terms = [ddl.quote(c.name) for c in columns]
    conflict = constraint.dialect_options["sqlite"]["on_conflict"]
    if conflict is None and len(terms) == 1:
        conflict = next(iter(columns)).dialect_options["sqlite"]["on_conflict_primary_key"]
    return _key(terms, ddl.name(constraint), _conflict(conflict, table, where))


def _unique(ddl: _Ddl, table: sa.Table, constraint: sa.UniqueConstraint) -> Any:
    """A UNIQUE constraint (``Column(unique=True)`` is one too, at table level)."""
    _refuse_deferrable(constraint, table, "UNIQUE")
    columns = list(constraint.columns)
    conflict = constraint.dialect_options["sqlite"]["on_conflict"]
    if conflict is None and len(columns) == 1:
        conflict = columns[0].dialect_options["sqlite"]["on_conflict_unique"]
    terms = [ddl.quote(c.name) for c in columns]
    return _key(terms, ddl.name(constraint), _conflict(conflict, table, f"tables.{table.name}"))


def _key(terms: list[str], name: str | None, conflict: str | None) -> Any:
    """A key as the format writes it: a list of terms, or a map when named or with ON CONFLICT."""
    if name is None and conflict is None:
        return terms
    spec: dict[str, Any] = {}
    _put(spec, "name", name)
    spec["columns"] = terms
    _put(spec, "on_conflict", conflict)
    return spec


def _check(
    ddl: _Ddl, table: sa.Table, constraint: sa.CheckConstraint, column: sa.Column | None = None
) -> dict[str, Any]:
    """A CHECK constraint, of the table or (``column`` given) of one column."""
    where = f"tables.{table.name}" if column is None else f"tables.{table.name}.columns.{column.name}"
    _refuse_deferrable(constraint, table, "CHECK", column)
    if constraint.dialect_options["sqlite"]["on_conflict"] is not None:
        raise SchemaError(
            f"table `{table.name}`: CHECK ({constraint.sqltext}) has sqlite_on_conflict, which "
            "SQLite parses and ignores; leave it out",
            path=where,
        )
    spec: dict[str, Any] = {}
    _put(spec, "name", ddl.name(constraint))
    spec["expr"] = _expression(ddl, constraint.sqltext, table, where, column)
    return spec


def _foreign_key(
    ddl: _Ddl, table: sa.Table, constraint: sa.ForeignKeyConstraint, kept: dict[str, sa.Table]
) -> dict[str, Any]:
    """A FOREIGN KEY constraint, always at table level (as ``create_all`` writes it)."""
    first = constraint.elements[0].parent
    where = f"tables.{table.name}.columns.{first.name}"
    what = f"table `{table.name}`, column `{first.name}`"
    try:
        parents = [element.column for element in constraint.elements]
    except (sa_exc.NoReferencedTableError, sa_exc.NoReferencedColumnError) as err:
        raise SchemaError(
            f"{what}: foreign key to a missing table or column ({_reason(err)})", path=where
        ) from None
    parent = parents[0].table
    if parent.schema is not None:
        raise SchemaError(
            f"{what}: references `{parent.schema}.{parent.name}` in another schema; SQLite "
            "foreign keys stay within one database",
            path=where,
        )
    if parent.name not in kept:
        raise SchemaError(
            f"{what}: references table `{parent.name}`, which is excluded; keep it or exclude "
            f"`{table.name}` too",
            path=where,
        )
    if constraint.match is not None and constraint.match.upper() != "SIMPLE":
        raise SchemaError(
            f"{what}: MATCH {constraint.match} is not enforced by SQLite, whose foreign keys are all "
            "MATCH SIMPLE; leave it out",
            path=where,
        )
    spec: dict[str, Any] = {}
    _put(spec, "name", ddl.name(constraint))
    spec["columns"] = [element.parent.name for element in constraint.elements]
    spec["references"] = parent.name
    spec["referenced_columns"] = [column.name for column in parents]
    _put(spec, "on_delete", _action(constraint.ondelete, what, where))
    _put(spec, "on_update", _action(constraint.onupdate, what, where))
    if _deferred(constraint, what, where):
        spec["deferred"] = True
    return spec


def _action(action: str | None, what: str, where: str) -> str | None:
    """An ON DELETE / ON UPDATE action → the format's value."""
    if action is None:
        return None
    value = _ACTIONS.get(" ".join(action.upper().split()))
    if value is None:
        raise SchemaError(
            f"{what}: foreign-key action `{action}` is not one of {', '.join(_ACTIONS)}", path=where
        )
    return value


def _deferred(constraint: sa.ForeignKeyConstraint, what: str, where: str) -> bool:
    """Whether a foreign key is DEFERRABLE INITIALLY DEFERRED. Any other DEFERRABLE form
    behaves as immediate in SQLite, which is how reconcile reads it back."""
    initially = (constraint.initially or "").upper()
    if initially and not constraint.deferrable:
        raise SchemaError(f"{what}: INITIALLY {initially} needs deferrable=True", path=where)
    if initially not in ("", "DEFERRED", "IMMEDIATE"):
        raise SchemaError(
            f"{what}: INITIALLY {constraint.initially} is neither DEFERRED nor IMMEDIATE", path=where
        )
    return bool(constraint.deferrable) and initially == "DEFERRED"


def _refuse_deferrable(
    constraint: sa.Constraint, table: sa.Table, kind: str, column: sa.Column | None = None
) -> None:
    """SQLite defers foreign keys only; DEFERRABLE on anything else is a syntax error there."""
    if constraint.deferrable is None and constraint.initially is None:
        return
    where = f"tables.{table.name}" if column is None else f"tables.{table.name}.columns.{column.name}"
    raise SchemaError(
        f"table `{table.name}`: {kind} constraint is DEFERRABLE; SQLite defers only foreign keys",
        path=where,
    )


def _index(ddl: _Ddl, table: sa.Table, index: sa.Index) -> tuple[str, dict[str, Any]]:
    """An index: its name and its terms, UNIQUE and ``sqlite_where``."""
    name = ddl.name(index)
    if name is None:
        terms = ", ".join(str(e) for e in index.expressions)
        raise SchemaError(
            f"table `{table.name}`: index on ({terms}) has no name; name it, or give the "
            "MetaData a naming convention for `ix`",
            path=f"tables.{table.name}.indexes",
        )
    where = f"tables.{table.name}.indexes.{name}"
    spec: dict[str, Any] = {"columns": [_expression(ddl, e, table, where) for e in index.expressions]}
    if index.unique:
        spec["unique"] = True
    condition = index.dialect_options["sqlite"]["where"]
    if condition is not None:
        spec["where"] = _expression(ddl, condition, table, where)
    return name, spec


def _expression(ddl: _Ddl, clause: Any, table: sa.Table, where: str, column: sa.Column | None = None) -> str:
    """An SQL expression as SQLite's dialect writes it, or ``SchemaError`` when it cannot."""
    try:
        return ddl.expression(clause)
    except (sa_exc.CompileError, NotImplementedError) as err:
        subject = f"table `{table.name}`" + ("" if column is None else f", column `{column.name}`")
        raise SchemaError(
            f"{subject}: expression `{clause}` cannot be written for SQLite ({_reason(err)})", path=where
        ) from None


def _conflict(value: str | None, table: sa.Table, where: str) -> str | None:
    """A ``sqlite_on_conflict*`` option → the format's conflict value."""
    if value is None:
        return None
    if value.upper() not in _CONFLICTS:
        raise SchemaError(
            f"table `{table.name}`: ON CONFLICT {value} is not one of {', '.join(sorted(_CONFLICTS))}",
            path=where,
        )
    return value.lower()


def _reason(err: BaseException) -> str:
    """SQLAlchemy's message without its trailing link to the documentation."""
    text = str(err.args[0]) if err.args else str(err)
    text = re.sub(r"\s*\(Background on this error at: [^)]*\)\s*$", "", text)
    return re.sub(r"<(?:[\w]+\.)*(\w+) object at 0x[0-9a-fA-F]+>", r"\1", text)


# YAML rendering: block style for tables and their lists, flow style for each item, and only
# scalars that can never be read as something else left unquoted. No YAML library is needed.

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?: [A-Za-z_][A-Za-z0-9_]*)*(?:\(\d+\))?")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}


def _header(command: str | None) -> str:
    """The comment opening a generated file: what made it and how to make it again."""
    command = command or f"{COMMAND} MODULE:ATTR -o FILE"
    return (
        "# yaml-language-server: $schema=reconcile.schema.json\n"
        "#\n"
        f"# Generated from SQLAlchemy models by `{command}`.\n"
        "# Do not edit: change the models and run the command again.\n"
    )


def _render_tables(tables: dict[str, dict[str, Any]]) -> str:
    """The ``tables:`` section, one block per table."""
    if not tables:
        return "tables: {}\n"
    lines = ["tables:"]
    for name, spec in tables.items():
        lines.append(f"  {_scalar(name)}:")
        for key, value in spec.items():
            lines.extend(_block(key, value, "    "))
    return "\n".join(lines) + "\n"


def _block(key: str, value: Any, indent: str) -> list[str]:
    """``key: value`` at a table's level: lists of maps and maps of maps one item a line."""
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        return [f"{indent}{key}:"] + [f"{indent}  - {_flow(item)}" for item in value]
    if isinstance(value, dict) and value and all(isinstance(item, dict) for item in value.values()):
        return [f"{indent}{key}:"] + [f"{indent}  {_scalar(k)}: {_flow(v)}" for k, v in value.items()]
    return [f"{indent}{key}: {_flow(value)}"]


def _flow(value: Any) -> str:
    """A value in YAML flow style."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _scalar(str(value))


def _scalar(text: str) -> str:
    """A string, plain when it cannot be misread (a name, ``VARCHAR(200)``, ``name DESC``),
    double-quoted otherwise."""
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F or code in (0x85, 0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# The command: MODULE:ATTR → YAML on stdout, into a file, or checked against a file.


class _UsageError(Exception):
    """A user error of the command: its message is printed, with no traceback, and exit 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, reporting bad arguments as exit 1: exit 2 means a stale file."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    """The command's arguments; their help is the command's documentation."""
    parser = _Parser(
        prog=COMMAND,
        description="Write the YAML schema of reconcile for SQLAlchemy models (a MetaData).",
        epilog="Exit codes: 0 written or up to date, 1 error, 2 FILE is stale (--check).",
    )
    parser.add_argument(
        "target",
        metavar="MODULE:ATTR",
        help="the MetaData, or an object with .metadata (SQLModel, a declarative Base), "
        "importable from the current directory: app.models:Base",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the YAML to FILE instead of stdout")
    parser.add_argument(
        "--exclude",
        metavar="NAME",
        action="append",
        default=[],
        help="leave out this table (a name or an fnmatch pattern such as 'alembic_*'); repeatable",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing: exit 0 when FILE is up to date, 2 when it is stale",
    )
    return parser


def load_metadata(target: str) -> sa.MetaData:
    """The ``MetaData`` that ``MODULE:ATTR`` names, importing MODULE from the current directory
    (or ``sys.path``). ATTR may be dotted, and may name an object with a ``.metadata``
    (``SQLModel``, a declarative ``Base``). Raises ``ValueError`` with a message for the user."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"`{target}`: expected MODULE:ATTR, such as `app.models:Base`")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    module = _import(module_name, cwd)
    found: Any = module
    for part in attr.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ValueError(f"`{target}`: module `{module_name}` has no attribute `{attr}`") from None
    if isinstance(found, sa.MetaData):
        return found
    metadata = getattr(found, "metadata", None)
    if isinstance(metadata, sa.MetaData) and not isinstance(found, sa.Table):
        return metadata
    raise ValueError(
        f"`{target}`: {type(found).__name__} is neither a MetaData nor an object with a "
        ".metadata (SQLModel, a declarative Base)"
    )


def _import(module_name: str, cwd: str) -> Any:
    """Import the models' module; a failure inside it is reported, not raised as a traceback."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise ValueError(f"`{module_name}`: no such module (searched {cwd} and sys.path)") from None
        raise ValueError(f"`{module_name}`: importing it failed: {err}") from None
    except Exception as err:  # noqa: BLE001  (the models' own code failed: say so in one line)
        raise ValueError(f"`{module_name}`: importing it failed: {type(err).__name__}: {err}") from None


def _command_line(args: argparse.Namespace) -> str:
    """The command line that regenerates the output, for the header and the stale message."""
    words = [args.target] + (["-o", args.output] if args.output else [])
    for name in args.exclude:
        words += ["--exclude", name]
    return f"{COMMAND} {shlex.join(words)}"


def _body(text: str) -> str:
    """The YAML without its header comment: how the file was spelled on the command line
    (``-o ./schema/x.yaml`` or ``-o schema/x.yaml``) does not make it stale."""
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1
    return "".join(lines[start:])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code: 0 done or up to date, 1 error, 2 stale."""
    try:
        args = _parser().parse_args(argv)
        if args.check and not args.output:
            raise _UsageError("--check needs -o FILE, the file to compare")
        command = _command_line(args)
        text = to_yaml(load_metadata(args.target), exclude=args.exclude, command=command)
        if args.check:
            return _check_file(args.output, text, command)
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="\n") as out:
                out.write(text)
        else:
            sys.stdout.write(text)
        return 0
    except SchemaError as err:
        where = f" (at {err.path})" if err.path else ""
        print(f"error: {err.message}{where}", file=sys.stderr)
    except (_UsageError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
    except OSError as err:
        subject = f"`{err.filename}`: " if err.filename else ""
        print(f"error: {subject}{err.strerror or err}", file=sys.stderr)
    return 1


def _check_file(path: str, text: str, command: str) -> int:
    """``--check``: 0 when ``path`` holds ``text`` (header aside), 2 when it is stale."""
    try:
        with open(path, encoding="utf-8") as current:
            if _body(current.read()) == _body(text):
                return 0
        problem = "is stale: the models changed"
    except FileNotFoundError:
        problem = "does not exist"
    print(f"`{path}` {problem}; regenerate it with `{command}`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
