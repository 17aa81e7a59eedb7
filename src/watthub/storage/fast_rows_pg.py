"""Row writes for PostgreSQL without SQLAlchemy's per-execution compilation and parameter dicts.

The PostgreSQL twin of ``fast_rows.py``: the writer's coalesced rows (meter values, status
history, connector upserts, the message log) went through ``conn.execute(statement, [dict, …])``,
which builds a dict per row, looks up the compiled statement and processes every parameter of every
row (``construct_params`` and ``_init_compiled`` were ~12 % of the event loop at 1,200 msg/s).
Here the statement is compiled once per (target, columns) for asyncpg and rows become tuples in
its parameter order; ``exec_driver_sql`` hands them to asyncpg's ``executemany`` through the same
connection and transaction, so errors are wrapped (and disconnects detected) as before."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import Executable, Table, bindparam
from sqlalchemy.dialects.postgresql import asyncpg

from watthub.storage.fast_rows import reordered

_DIALECT = asyncpg.dialect()

Processor = Callable[[Any], Any]


@cache
def _compiled(
    target: Table | Executable, columns: tuple[str, ...]
) -> tuple[str, tuple[str, ...], tuple[tuple[int, Processor], ...]]:
    statement = (
        target.insert().values({c: bindparam(c) for c in columns})
        if isinstance(target, Table)
        else target
    )
    # for_executemany: no RETURNING of the new ids, which nobody reads here.
    compiled = statement.compile(dialect=_DIALECT, column_keys=list(columns), for_executemany=True)
    order = tuple(compiled.positiontup or ())
    # The parameters whose type converts on the way in (JSON is serialised, …), found once.
    processors = compiled._bind_processors
    convert = tuple((i, processors[key]) for i, key in enumerate(order) if key in processors)
    return compiled.string, order, convert


def pg_executemany_tuples(
    target: Table | Executable, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> tuple[str, list[tuple[Any, ...]]]:
    """(SQL, parameter tuples) for ``rows`` given as tuples of ``columns``."""
    sql, order, convert = _compiled(target, columns)
    rows = reordered(rows, columns, order)
    if convert:
        rows = [_converted(row, convert) for row in rows]
    return sql, rows


def _converted(row: tuple[Any, ...], convert: tuple[tuple[int, Processor], ...]) -> tuple[Any, ...]:
    values = list(row)
    for i, process in convert:
        values[i] = process(values[i])
    return tuple(values)
