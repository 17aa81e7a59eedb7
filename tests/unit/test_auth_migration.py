"""Migration 0501: API tokens created before roles existed become admin (they could do
everything), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from tests.support.scratch_db import scratch_database
from watthub.storage import db, tokens_repo


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_existing_tokens_become_admin(backend: str, tmp_path: Path) -> None:
    async with scratch_database(backend, tmp_path, "mig") as (engine, url):
        script = ScriptDirectory.from_config(db.alembic_config(url))
        before = script.get_revision("0501").down_revision
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
