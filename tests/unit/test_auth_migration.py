"""Migration 0501: API tokens created before roles existed become admin (they could do
everything), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from tests.conftest import PG_ADMIN_DB, PG_HOST, PG_PORT, PG_TEST_DB, PG_USER, require_service
from watthub.storage import db, tokens_repo


async def _fresh_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    import asyncpg

    name = f"{PG_TEST_DB}_mig"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_existing_tokens_become_admin(backend: str, tmp_path: Path) -> None:
    url = await _fresh_url(backend, tmp_path)
    before = ScriptDirectory.from_config(db.alembic_config(url)).get_revision("0501").down_revision
    engine = db.create_engine(url)
    try:
        await db.upgrade(engine, url, str(before))
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO api_tokens (name, token_hash, created_at) "
                    "VALUES ('old', :hash, CURRENT_TIMESTAMP)"
                ),
                {"hash": tokens_repo.hash_token("wh_old")},
            )
        await db.upgrade(engine, url)
        async with engine.begin() as conn:
            assert await tokens_repo.check_token(conn, "wh_old") == ("old", "admin")
            new = await tokens_repo.create_token(conn, "new", role="viewer")
            assert await tokens_repo.check_token(conn, new) == ("new", "viewer")
    finally:
        await engine.dispose()
