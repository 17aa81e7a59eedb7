"""A database of its own for a migration test: a SQLite file under the test's tmp_path, or a
PostgreSQL database created for the test and dropped after it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, Executable
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.conftest import PG_ADMIN_DB, PG_HOST, PG_PORT, PG_TEST_DB, PG_USER, require_service
from watthub.storage import db


async def postgres_database(create: bool, name: str) -> str:
    """Drop the database ``name`` and, with ``create``, create it empty; its URL."""
    import asyncpg

    require_service("PostgreSQL", PG_HOST, PG_PORT)
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if create:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


@contextlib.asynccontextmanager
async def scratch_database(
    backend: str, tmp_path: Path, suffix: str
) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """(engine, URL) of an empty database; PostgreSQL's is ``<test db>_<suffix>``."""
    name = f"{PG_TEST_DB}_{suffix}"
    if backend == "postgres":
        url = await postgres_database(True, name)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / f'{suffix}.db'}"
    engine = db.create_engine(url)
    try:
        yield engine, url
    finally:
        await engine.dispose()
        if backend == "postgres":
            await postgres_database(False, name)


async def downgrade(engine: AsyncEngine, url: str, revision: str) -> None:
    """Run the migrations down to ``revision``."""
    cfg = db.alembic_config(url)

    def _run(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)


async def query_plan(
    conn: AsyncConnection, statement: Executable, params: Mapping[str, Any]
) -> str:
    """The database's plan for ``statement`` with ``params`` (literals in it keep their values)."""
    compiled: Any = statement.compile(dialect=conn.dialect)  # type: ignore[attr-defined]
    values = {**{k: v.value for k, v in compiled.binds.items()}, **params}
    args = tuple(values[k] for k in compiled.positiontup or ())
    if conn.dialect.name == "sqlite":
        rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string, args)
        return "\n".join(str(r[-1]) for r in rows)
    # A few hundred rows fit in a handful of pages, where a sequential scan may cost the same:
    # what is asserted is that an index matches the query, not the planner's choice of the day.
    await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = await conn.exec_driver_sql("EXPLAIN " + compiled.string, args)
    return "\n".join(str(r[0]) for r in rows)


async def index_names(conn: AsyncConnection, table: str) -> set[str]:
    """The indexes of ``table`` (not SQLAlchemy's inspector: it skips SQLite's expression
    indexes)."""
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
        if conn.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename = $1"
    )
    return {row[0] for row in await conn.exec_driver_sql(sql, (table,))}
