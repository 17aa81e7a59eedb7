"""Row writes for SQLite without SQLAlchemy's per-parameter processing.

The writer sends the rows of many messages (meter values, status history, message log) in one
``executemany``; through SQLAlchemy every parameter of every row still passes a Python bind
processor, which profiling showed as the largest single cost of the SQLite message path. Here the
statement is compiled once per (target, columns) and rows become plain tuples, with values in the
exact form SQLAlchemy itself stores (datetimes as naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``), so
reads through SQLAlchemy see no difference."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Boolean, DateTime, Executable, Table, bindparam
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError

_DIALECT = sqlite.dialect()


@cache
def _compiled(
    target: Table | Executable, columns: tuple[str, ...]
) -> tuple[str, tuple[str, ...], tuple[int, ...]]:
    statement = (
        target.insert().values({c: bindparam(c) for c in columns})
        if isinstance(target, Table)
        else target
    )
    compiled = statement.compile(dialect=_DIALECT, column_keys=list(columns))
    order = tuple(compiled.positiontup or ())
    # Only datetime and boolean parameters need converting; find them once (a bind parameter
    # takes the type of the column it is compared with or assigned to).
    convert = tuple(
        i for i, key in enumerate(order) if isinstance(compiled.binds[key].type, DateTime | Boolean)
    )
    return compiled.string, order, convert


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is UTC:
            value = value.replace(tzinfo=None)
        elif value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")
    if isinstance(value, bool):
        return int(value)
    return value


def sqlite_executemany(
    target: Table | Executable, rows: list[dict[str, Any]]
) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """(SQL, parameter tuples) groups for ``rows``; rows with other keys get their own group."""
    out = []
    groups = by_keys(rows)
    # The rows of one message share their datetime objects (nine sampled values, one timestamp):
    # convert each distinct value once.
    converted: dict[Any, Any] = {}
    for columns, group in groups.items():
        sql, order, convert = _compiled(target, columns)
        params = []
        for row in group:
            params.append(_converted([row[k] for k in order], convert, converted))
        out.append((sql, params))
    return out


def sqlite_executemany_tuples(
    target: Table | Executable, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> tuple[str, list[tuple[Any, ...]]]:
    """:func:`sqlite_executemany` for rows given as tuples of ``columns``."""
    sql, order, convert = _compiled(target, columns)
    rows = reordered(rows, columns, order)
    if not convert:
        return sql, rows
    params = []
    converted: dict[Any, Any] = {}
    for row in rows:
        params.append(_converted(list(row), convert, converted))
    return sql, params


def by_keys(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Dict rows grouped by their keys (one statement per group)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return groups


def reordered(
    rows: list[tuple[Any, ...]], columns: tuple[str, ...], order: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    """Tuples of ``columns`` as tuples in a statement's parameter ``order``."""
    if order == columns:
        return rows
    index = [columns.index(k) for k in order]
    return [tuple(row[i] for i in index) for row in rows]


def _converted(
    values: list[Any], convert: tuple[int, ...], converted: dict[Any, Any]
) -> tuple[Any, ...]:
    """``values`` with the positions in ``convert`` stored as SQLAlchemy stores them; each
    distinct value is converted once per batch (``converted``)."""
    for i in convert:
        v = values[i]
        c = converted.get(v, _MISSING)
        if c is _MISSING:
            c = converted[v] = _sqlite_value(v)
        values[i] = c
    return tuple(values)


def raw_sqlite(call: Callable[..., Any], sql: str, params: Any = ()) -> Any:
    """``call(sql, params)`` on the sqlite3 connection itself (its ``execute`` or
    ``executemany``), errors wrapped as SQLAlchemy wraps them (the writer tells an unavailable
    database from a refused write by them)."""
    try:
        return call(sql, params)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc


def raw_executemany(raw: sqlite3.Connection, sql: str, params: list[tuple[Any, ...]]) -> None:
    raw_sqlite(raw.executemany, sql, params)


_MISSING = object()
