"""The Alembic migrations build exactly the schema the code declares, from an empty database, on
SQLite (through the real ``watthub db upgrade``) and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from tests.conftest import database_url
from watthub.cli import main
from watthub.storage import db
from watthub.storage.schema import metadata


def test_db_upgrade_creates_every_table(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    url = f"sqlite+aiosqlite:///{path}"
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"WATTHUB_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    head = db.head_revision(url)
    assert head is not None and head in result.output
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert set(metadata.tables) <= tables
    assert version == head


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_migrations_match_the_declared_schema(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    url = await database_url(backend, tmp_path, tmp_path_factory)
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    assert diff == [], f"migrations and tables differ: {diff}"
