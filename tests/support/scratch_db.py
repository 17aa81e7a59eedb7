"""A database of its own for a migration test: a SQLite file under the test's tmp_path, or a
PostgreSQL database created for the test and dropped after it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

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
