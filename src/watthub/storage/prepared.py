"""Hot-path statements run on the writer's own SQLite connection without SQLAlchemy's
per-execution machinery.

Each ``conn.execute`` of a Core statement, even a cached one, builds an execution context,
processes parameters and wraps a ``CursorResult``: profiling showed that costing more than the
SQLite work of StartTransaction's and StopTransaction's few statements. A :class:`Prepared`
statement is compiled once per dialect by SQLAlchemy itself, and keeps SQLAlchemy's own bind and
result processors (datetimes, JSON), so what is stored and read back is exactly what
``conn.execute`` would store and read; only the per-call bookkeeping is gone.

The raw path is taken on the writer's (and the hot-path reader's) synchronous SQLite connection
(``sqlite_writer.SyncConnectionFacade``), and on PostgreSQL in the writer's batch and a hot-path
read, whose connections carry the asyncpg connection under them (``pg_batch.py``, ``pg_reads.py``).
On any other PostgreSQL connection (the API's) the SQL compiled once goes through
``exec_driver_sql`` with its parameters already processed: SQLAlchemy still wraps errors and
detects disconnects, but no longer looks up the compiled statement and processes each bind per
call. Any other connection
runs the statement through ``conn.execute``. Driver errors are wrapped as SQLAlchemy wraps them,
so the writer tells "database unavailable" from "write refused" as before."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect

from watthub.storage.fast_rows import raw_sqlite


@dataclass(slots=True, frozen=True)
class _Compiled:
    sql: str
    # Per positional parameter: its name, its default (a literal in the statement) and the
    # bind processor of its type.
    params: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]
    keys: tuple[str, ...]
    results: tuple[Callable[[Any], Any] | None, ...]


_NO_DEFAULT = object()


class Prepared:
    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # Keyed by the dialect object's id; the dialect is kept so that id is never reused.
        self._compiled: dict[int, tuple[Dialect, _Compiled]] = {}

    async def rows(self, conn: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The result rows as dicts (column name → value)."""
        raw = getattr(conn, "raw_sqlite", None)
        if raw is not None:
            compiled = self._for(conn.dialect)
            found = self._run(raw, compiled, params).fetchall()
        elif getattr(conn, "pg_driver", None) is not None:  # the writer's batch (pg_batch.py)
            compiled = self._for(conn.dialect)
            found = await conn.fetch(compiled.sql, _values(compiled, params))
        elif conn.dialect.name == "postgresql":
            compiled = self._for(conn.dialect)
            result = await conn.exec_driver_sql(compiled.sql, _values(compiled, params))
            found = result.fetchall()
        else:
            result = await conn.execute(self.statement, dict(params))
            return [dict(r._mapping) for r in result]
        keys, results = compiled.keys, compiled.results
        out = []
        for row in found:
            out.append(
                {
                    k: (v if p is None or v is None else p(v))
                    for k, p, v in zip(keys, results, row, strict=True)
                }
            )
        return out

    async def first(self, conn: Any, params: Mapping[str, Any]) -> dict[str, Any] | None:
        found = await self.rows(conn, params)
        return found[0] if found else None

    async def execute(self, conn: Any, params: Mapping[str, Any]) -> None:
        """Run a statement without result rows."""
        raw = getattr(conn, "raw_sqlite", None)
        if raw is not None:
            self._run(raw, self._for(conn.dialect), params)
        elif getattr(conn, "pg_driver", None) is not None:
            compiled = self._for(conn.dialect)
            await conn.execute_raw(compiled.sql, _values(compiled, params))
        elif conn.dialect.name == "postgresql":
            compiled = self._for(conn.dialect)
            await conn.exec_driver_sql(compiled.sql, _values(compiled, params))
        else:
            await conn.execute(self.statement, dict(params))

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(id(dialect))
        if found is None:
            found = self._compiled[id(dialect)] = (dialect, _compile(self.statement, dialect))
        return found[1]

    @staticmethod
    def _run(raw: sqlite3.Connection, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
        return raw_sqlite(raw.execute, compiled.sql, _values(compiled, params))


def _values(compiled: _Compiled, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """The positional parameters, through SQLAlchemy's bind processors of their types."""
    values = []
    for name, default, process in compiled.params:
        value = params.get(name, default)
        if value is _NO_DEFAULT:
            raise KeyError(f"statement parameter {name!r} missing")
        values.append(value if process is None else process(value))
    return tuple(values)


def _compile(statement: Executable, dialect: Dialect) -> _Compiled:
    compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if compiled.positiontup is None or "POSTCOMPILE" in compiled.string:
        raise ValueError("a prepared statement needs plain positional parameters")
    processors = compiled._bind_processors
    params = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        default = _NO_DEFAULT if bind.required else bind.effective_value
        params.append((name, default, processors.get(name)))
    columns = compiled._result_columns or []
    keys = tuple(c.keyname for c in columns)
    results = tuple(c.type._cached_result_processor(dialect, None) for c in columns)
    return _Compiled(compiled.string, tuple(params), keys, results)
